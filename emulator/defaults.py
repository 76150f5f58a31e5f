"""Documented defaults of the local Twilio emulator.

These are the only development credentials the project ships. They are not secrets: they open
nothing but an emulator bound to 127.0.0.1, and they are fixed so that a stack with no Twilio
credentials configured works against the emulator out of the box.
"""

from __future__ import annotations

import os

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4010
DEFAULT_EMULATOR_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
EMULATOR_URL_ENV = "TWILIO_EMULATOR_URL"
DEFAULT_DB_PATH = ".state/emulator.db"

# Bootstrap parent ("main") account created on first start.
DEV_ACCOUNT_SID = "ACf00df00df00df00df00df00df00df00d"
DEV_AUTH_TOKEN = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
DEV_ACCOUNT_FRIENDLY_NAME = "Twilio Landing Zone emulator parent"

DEFAULT_SERVICE_FRIENDLY_NAME = "[Auto-generated] Default Messaging Service"

# Message lifecycle: time between two status transitions, and delivery outcome rates.
DEFAULT_LIFECYCLE_STEP_MS = 250
DEFAULT_MESSAGE_FAILED_RATE = 0.0
DEFAULT_MESSAGE_UNDELIVERED_RATE = 0.0

# Status callbacks: attempts per event (first try included) and the pause before a retry.
DEFAULT_CALLBACK_ATTEMPTS = 4
DEFAULT_CALLBACK_RETRY_MS = 200
DEFAULT_CALLBACK_TIMEOUT_S = 5.0

# A2P registrations: time between two automatic review steps (bundles, brands, campaigns).
DEFAULT_REGISTRATION_STEP_MS = 500

# Twilio's limits that the emulator enforces.
MAX_SUBACCOUNTS = 1000
MAX_SENDERS_PER_SERVICE = 400


def emulator_url_from_env(environ: dict[str, str] | None = None) -> str:
    """The emulator base URL: `TWILIO_EMULATOR_URL`, else the documented default."""
    env = os.environ if environ is None else environ
    return (env.get(EMULATOR_URL_ENV) or DEFAULT_EMULATOR_URL).rstrip("/")
