"""Fixtures of the emulator suite: one emulator process per session, official twilio clients
whose every response is recorded and validated against the strict OpenAPI schemas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from twilio.http.response import Response
from twilio.rest import Client

from tests.emulator.spec_validation import SPEC_FILES, load_spec, validate_response
from tests.support.emulator_process import EmulatorProcess
from twilio_access.client import EmulatorHttpClient, emulator_route

# Fast delivery so lifecycle tests take milliseconds, quick callback retries. A2P reviews wait a
# minute unless a test shortens them (registration_step_ms) or decides them (admin API).
SUITE_ARGS = [
    "--lifecycle-step-ms",
    "20",
    "--callback-retry-ms",
    "30",
    "--registration-step-ms",
    "60000",
]


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # on the emulator, with the /<domain> prefix, without the query
    status: int
    body: str


class RecordingHttpClient(EmulatorHttpClient):
    """The providers' emulator HTTP client, keeping every answer for spec validation."""

    def __init__(self, emulator_url: str, exchanges: list[Exchange]) -> None:
        super().__init__(emulator_url)
        self.exchanges = exchanges

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:
        response = super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
        path = urlsplit(emulator_route(url, self.emulator_url)).path
        self.exchanges.append(Exchange(method, path, response.status_code, response.text))
        return response


@pytest.fixture(scope="session")
def specs() -> None:
    """Every spec must be there: a missing one fails the suite instead of skipping it."""
    for domain in SPEC_FILES:
        load_spec(domain)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory, specs: None) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path_factory.mktemp("emulator"), extra_args=SUITE_ARGS)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def exchanges(specs: None) -> Iterator[list[Exchange]]:
    """Every answer a test's clients received; validated against the spec when the test ends."""
    recorded: list[Exchange] = []
    yield recorded
    problems: list[str] = []
    for exchange in recorded:
        problems.extend(
            validate_response(exchange.method, exchange.path, exchange.status, exchange.body)
        )
    assert not problems, "responses that break the strict spec:\n" + "\n".join(problems)


@pytest.fixture(autouse=True)
def _fresh_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").reset_faults()


ClientFactory = Callable[..., Client]


@pytest.fixture
def client_for(exchanges: list[Exchange]) -> Callable[..., Client]:
    """An official client for any emulator process, its answers validated like the others."""

    def make(
        process: EmulatorProcess,
        username: str | None = None,
        password: str | None = None,
        account_sid: str | None = None,
    ) -> Client:
        return Client(
            username or process.account_sid,
            password or process.auth_token,
            account_sid,
            http_client=RecordingHttpClient(process.url, exchanges),
        )

    return make


@pytest.fixture
def make_client(emulator: EmulatorProcess, client_for: Callable[..., Client]) -> ClientFactory:
    """An official client for the session's emulator (parent credentials by default)."""

    def make(
        username: str | None = None, password: str | None = None, account_sid: str | None = None
    ) -> Client:
        return client_for(emulator, username, password, account_sid)

    return make


@pytest.fixture
def parent(make_client: ClientFactory) -> Client:
    return make_client()


@dataclass(frozen=True)
class Tenant:
    sid: str
    auth_token: str
    client: Client  # the subaccount's own credentials (v1 APIs act on it)
    via_parent: Client  # the parent's credentials, v2010 paths in the subaccount


@pytest.fixture
def make_tenant(parent: Client, make_client: ClientFactory) -> Callable[[str], Tenant]:
    def make(name: str = "tenant") -> Tenant:
        account = parent.api.v2010.accounts.create(friendly_name=name)
        return Tenant(
            sid=account.sid,
            auth_token=account.auth_token,
            client=make_client(account.sid, account.auth_token),
            via_parent=make_client(account_sid=account.sid),
        )

    return make


@pytest.fixture
def tenant(make_tenant: Callable[[str], Tenant]) -> Tenant:
    return make_tenant("tenant")


def buy_number(client: Client, area_code: int = 415, sms: bool = True) -> str:
    """Buy an SMS-capable (or voice-only) number in the client's account; its PN SID."""
    candidates = client.available_phone_numbers("US").local.list(
        area_code=area_code, sms_enabled=sms, limit=1
    )
    return client.incoming_phone_numbers.create(phone_number=candidates[0].phone_number).sid
