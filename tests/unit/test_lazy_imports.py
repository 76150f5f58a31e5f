"""A preview calls no Twilio, so neither the program nor the provider host loads the HTTP stack
(`requests`, urllib3, the twilio client): about a second of imports on a loaded machine, on the
critical path of every policy check (bench/policy_check.py). They are imported when the first
client is built (twilio_access/credentials.py) or a failure is matched (providers/errors.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from providers import errors
from twilio_access import outcomes, transport

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("requests", "urllib3", "twilio.rest", "twilio.http")
# What the program imports, and what the provider host loads for a preview's Check and Diff:
# every provider module (unpickling one imports it) and a configured session.
PREVIEW = """
import sys
import architecture, components.sdk_overhead, components.stack_settings, components.state_identity
import components.landing_zone
from providers import (api_key, default_messaging_service, messaging_service, phone_number,
                       sender_pool, subaccount)
from twilio_access.credentials import TwilioSession, resolve_parent_credentials
session = TwilioSession(resolve_parent_credentials({{}}))
print(" ".join(name for name in {heavy!r} if name in sys.modules))
"""


def test_the_program_and_a_previews_provider_load_no_http_stack() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", PREVIEW.format(heavy=HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert loaded == []


def test_the_first_client_loads_it_and_works() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from twilio_access.credentials import TwilioSession, resolve_parent_credentials\n"
            "session = TwilioSession(resolve_parent_credentials({}))\n"
            "client = session.parent()\n"
            "assert session._http is session._http  # one pool for the process\n"
            "print(type(client).__module__, 'requests' in sys.modules)\n",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert loaded == ["twilio.rest", "True"]


def test_the_error_types_are_the_same_classes() -> None:
    import requests
    from twilio.base.exceptions import TwilioException

    assert transport.UnknownOutcomeError is outcomes.UnknownOutcomeError
    assert errors.twilio_failures() == (
        TwilioException,
        requests.ConnectionError,
        requests.Timeout,
        outcomes.UnknownOutcomeError,
    )
