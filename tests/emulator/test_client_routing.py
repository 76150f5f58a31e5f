"""twilio_access/client.py: the official client pointed at the emulator for every Twilio domain."""

from __future__ import annotations

import subprocess
import sys

import pytest
from twilio.http.http_client import TwilioHttpClient

from emulator.defaults import DEFAULT_EMULATOR_URL, emulator_url_from_env
from tests.support.emulator_process import REPO_ROOT, EmulatorProcess
from twilio_access.client import EmulatorHttpClient, build_client, emulator_route, make_http_client

EMU = "http://127.0.0.1:4010"


@pytest.mark.parametrize(
    ("url", "routed"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts.json", f"{EMU}/api/2010-04-01/Accounts.json"),
        (
            "https://messaging.twilio.com/v1/Services?PageSize=2",
            f"{EMU}/messaging/v1/Services?PageSize=2",
        ),
        ("https://iam.twilio.com/v1/Keys", f"{EMU}/iam/v1/Keys"),
        (
            "https://api.sydney.au1.twilio.com/2010-04-01/Accounts.json",
            f"{EMU}/api/2010-04-01/Accounts.json",
        ),
        ("https://messaging.us1.twilio.com/v1/Services", f"{EMU}/messaging/v1/Services"),
        ("https://API.Twilio.com/2010-04-01/Accounts.json", f"{EMU}/api/2010-04-01/Accounts.json"),
        (f"{EMU}/messaging/v1/Services?Page=1", f"{EMU}/messaging/v1/Services?Page=1"),
        ("https://example.com/twilio.com/x", "https://example.com/twilio.com/x"),
        ("https://eviltwilio.com/x", "https://eviltwilio.com/x"),
    ],
)
def test_emulator_route(url: str, routed: str) -> None:
    assert emulator_route(url, EMU + "/") == routed


def test_edge_and_region_still_reach_the_emulator(emulator: EmulatorProcess) -> None:
    client = build_client(
        emulator.account_sid,
        emulator.auth_token,
        emulator_url=emulator.url,
        edge="sydney",
        region="au1",
    )
    assert client.api.v2010.accounts(emulator.account_sid).fetch().sid == emulator.account_sid
    assert client.messaging.v1.services.list()


def test_key_credentials_with_account_sid(emulator: EmulatorProcess) -> None:
    main = emulator.create_main_key()
    client = build_client(
        main["sid"], main["secret"], emulator.account_sid, emulator_url=emulator.url
    )
    assert client.account_sid == emulator.account_sid
    assert client.api.v2010.account.fetch().sid == emulator.account_sid


def test_real_twilio_uses_the_stock_http_client() -> None:
    client = build_client("AC" + "0" * 32, "token", timeout=5)
    assert type(client.http_client) is TwilioHttpClient
    assert client.http_client.timeout == 5
    assert isinstance(make_http_client(EMU), EmulatorHttpClient)


def test_a_wrapping_http_client_is_used_as_given(emulator: EmulatorProcess) -> None:
    seen: list[str] = []

    class Counting(EmulatorHttpClient):
        def request(self, method, url, *args, **kwargs):
            seen.append(url)
            return super().request(method, url, *args, **kwargs)

    client = build_client(
        emulator.account_sid, emulator.auth_token, http_client=Counting(emulator.url)
    )
    client.api.v2010.accounts(emulator.account_sid).fetch()
    assert seen == [f"https://api.twilio.com/2010-04-01/Accounts/{emulator.account_sid}.json"]


def test_emulator_url_from_env() -> None:
    assert emulator_url_from_env({}) == DEFAULT_EMULATOR_URL == "http://127.0.0.1:4010"
    assert (
        emulator_url_from_env({"TWILIO_EMULATOR_URL": "http://127.0.0.1:9/"})
        == "http://127.0.0.1:9"
    )


def test_providers_package_has_no_import_side_effects() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import providers, sys;"
            " print(sorted(m for m in sys.modules if m.startswith(('twilio', 'emulator'))))",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
