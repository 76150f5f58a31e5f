"""The local emulator's documented development account and address, as plain constants.

They are not secrets: they open nothing but an emulator bound to 127.0.0.1, and they are fixed so
that a stack with no Twilio credentials configured works against the emulator out of the box.
The emulator holds the same values in its own `emulator/defaults.py` (it imports nothing of the
product); tests/unit/test_emulator_boundary.py holds the two equal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_EMULATOR_URL = "http://127.0.0.1:4010"
EMULATOR_URL_ENV = "TWILIO_EMULATOR_URL"

# The emulator's bootstrap parent ("main") account.
DEV_ACCOUNT_SID = "ACf00df00df00df00df00df00df00df00d"
DEV_AUTH_TOKEN = "c0ffeec0ffeec0ffeec0ffeec0ffee00"


def emulator_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The emulator base URL: `TWILIO_EMULATOR_URL`, else the documented default."""
    env = os.environ if environ is None else environ
    return (env.get(EMULATOR_URL_ENV) or DEFAULT_EMULATOR_URL).rstrip("/")
