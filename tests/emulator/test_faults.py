"""Fault injection: 429/5xx, commit-then-fail, dropped connections, eventual consistency,
non-blocking latency, seeds, and the stats endpoint."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.emulator.conftest import Tenant
from tests.support.emulator_process import EmulatorProcess
from tests.support.waiting import wait_until


def test_injected_429_has_retry_after(
    emulator: EmulatorProcess, emulator_session: requests.Session
) -> None:
    emulator.set_faults(rate_429=1.0, retry_after_seconds=3)
    response = emulator_session.get(f"{emulator.url}/messaging/v1/Services", timeout=5)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }


def test_twilio_client_sees_429_and_5xx(emulator: EmulatorProcess, tenant: Tenant) -> None:
    emulator.set_faults(rate_429=1.0)
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messaging.v1.services.create(friendly_name="x")
    assert (error.value.status, error.value.code) == (429, 20429)
    with pytest.raises(TwilioException) as listing:
        tenant.client.messaging.v1.services.list()
    assert listing.value.args[1].status_code == 429
    emulator.set_faults(rate_429=0.0, rate_5xx=1.0)
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messaging.v1.services.create(friendly_name="x")
    assert error.value.status in (500, 503) and error.value.code in (20500, 20503)
    emulator.reset_faults()
    assert [s.friendly_name for s in tenant.client.messaging.v1.services.list()] == [
        "[Auto-generated] Default Messaging Service"
    ]


def test_commit_then_500_leaves_the_record(emulator: EmulatorProcess, tenant: Tenant) -> None:
    emulator.set_faults(rate_commit_then_fail=1.0, commit_then_fail_mode="500")
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messaging.v1.services.create(friendly_name="maybe-created")
    assert error.value.status == 500
    emulator.reset_faults()
    names = [s.friendly_name for s in tenant.client.messaging.v1.services.list()]
    assert "maybe-created" in names  # the unknown outcome: a blind retry would make a twin


def test_commit_then_drop_closes_the_connection(emulator: EmulatorProcess, tenant: Tenant) -> None:
    emulator.set_faults(rate_commit_then_fail=1.0, commit_then_fail_mode="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        tenant.client.api.v2010.accounts(tenant.sid).new_keys.create(friendly_name="dropped")
    emulator.reset_faults()
    assert [k.friendly_name for k in tenant.client.api.v2010.accounts(tenant.sid).keys.list()] == [
        "dropped"
    ]


def test_the_first_write_per_pattern_commits_then_fails(
    emulator: EmulatorProcess, tenant: Tenant
) -> None:
    before = emulator.stats()["lost_answers"]
    emulator.set_faults(
        commit_then_fail_first=[r"/Services$", r"/Keys\.json$"], commit_then_fail_mode="500"
    )
    services = tenant.client.messaging.v1.services
    with pytest.raises(TwilioRestException):
        services.create(friendly_name="first")
    second = services.create(friendly_name="second")  # each pattern fails once only
    keys = tenant.client.api.v2010.accounts(tenant.sid)
    with pytest.raises(TwilioRestException):
        keys.new_keys.create(friendly_name="first key")
    keys.new_keys.create(friendly_name="second key")
    names = {s.friendly_name for s in services.list()}
    assert {"first", second.friendly_name} <= names  # the lost one committed
    lost = emulator.stats()["lost_answers"]
    for route in (
        "POST /messaging/v1/Services",
        "POST /api/2010-04-01/Accounts/{AccountSid}/Keys.json",
    ):
        assert lost[route] - before.get(route, 0) == 1, route


def test_reads_are_never_committed_then_failed(emulator: EmulatorProcess, tenant: Tenant) -> None:
    emulator.set_faults(rate_commit_then_fail=1.0)
    assert tenant.client.messaging.v1.services.list()


def test_scripted_faults_apply_in_order(emulator: EmulatorProcess, tenant: Tenant) -> None:
    emulator.set_faults(script=["429", "drop", "503"], path_pattern="/Services$", methods=["POST"])
    outcomes = []
    for _ in range(4):
        try:
            tenant.client.messaging.v1.services.create(friendly_name="scripted")
            outcomes.append("ok")
        except TwilioRestException as error:
            outcomes.append(str(error.status))
        except requests.exceptions.ConnectionError:
            outcomes.append("dropped")
    assert outcomes == ["429", "dropped", "503", "ok"]
    # Faults before the request ran left nothing behind.
    assert [s.friendly_name for s in tenant.client.messaging.v1.services.list()].count(
        "scripted"
    ) == 1


def test_fault_filters_spare_other_routes(emulator: EmulatorProcess, tenant: Tenant) -> None:
    emulator.set_faults(rate_429=1.0, path_pattern="/Messages")
    assert tenant.client.messaging.v1.services.list()
    with pytest.raises(TwilioException):
        tenant.client.messages.list()


def test_same_seed_same_faults(
    emulator: EmulatorProcess, emulator_session: requests.Session
) -> None:
    def run() -> list[int]:
        emulator.set_faults(seed=42, rate_429=0.3, rate_5xx=0.2)
        url = f"{emulator.url}/messaging/v1/Services"
        return [emulator_session.get(url, timeout=5).status_code for _ in range(30)]

    first = run()
    assert run() == first
    assert {200, 429} <= set(first)


def test_eventual_consistency_hides_fresh_records(
    emulator: EmulatorProcess, tenant: Tenant
) -> None:
    # A window long enough that a loaded machine still reads inside it.
    emulator.set_faults(eventual_consistency_ms=3000)
    service = tenant.client.messaging.v1.services.create(friendly_name="eventually")
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messaging.v1.services(service.sid).fetch()
    assert error.value.code == 20404
    assert service.sid not in {s.sid for s in tenant.client.messaging.v1.services.list()}
    # Writes see it at once: it can take a sender right away.
    tenant.client.messaging.v1.services(service.sid).alpha_senders.create(alpha_sender="Soon")

    def visible() -> str | None:
        try:
            return tenant.client.messaging.v1.services(service.sid).fetch().friendly_name
        except TwilioRestException as missing:
            assert missing.code == 20404
            return None

    assert wait_until(visible, timeout=10, what="the service after the lag") == "eventually"


async def _concurrent_fetches(url: str, path: str, authorization: str, count: int) -> float:
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {authorization}\r\n\r\n"
    ).encode()
    connections = [await asyncio.open_connection(host, int(port)) for _ in range(count)]

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":", 1)[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        return int(head.split(b" ", 2)[1])

    try:
        await asyncio.gather(*(exchange(r, w) for r, w in connections))  # warm every connection
        await _set_latency(url, 100)
        started = time.perf_counter()
        statuses = await asyncio.gather(*(exchange(r, w) for r, w in connections))
        elapsed = time.perf_counter() - started
        assert set(statuses) == {200}
        return elapsed
    finally:
        for _, writer in connections:
            writer.close()


async def _set_latency(url: str, milliseconds: int) -> None:
    await asyncio.to_thread(
        lambda: requests.post(
            f"{url}/_emulator/faults", json={"latency_ms": milliseconds}, timeout=5
        )
    )


def test_latency_does_not_block_other_requests(emulator: EmulatorProcess) -> None:
    token = base64.b64encode(f"{emulator.account_sid}:{emulator.auth_token}".encode()).decode()
    path = f"/api/2010-04-01/Accounts/{emulator.account_sid}.json"
    elapsed = asyncio.run(_concurrent_fetches(emulator.url, path, f"Basic {token}", 64))
    # Serialised, 64 requests at 100 ms would take 6.4 s; concurrent, just over 100 ms. The
    # bound leaves room for a loaded machine and still refuses anything near serialised.
    print(f"64 requests at 100 ms: {elapsed * 1000:.0f} ms")
    assert 0.1 <= elapsed < 6.4 / 8, elapsed


def test_stats_count_requests_per_route(
    emulator: EmulatorProcess, parent: Client, tenant: Tenant
) -> None:
    before = emulator.stats()
    tenant.client.messaging.v1.services.create(friendly_name="counted")
    tenant.client.messaging.v1.services.list()
    tenant.client.messaging.v1.services.list()
    after = emulator.stats()
    routes = after["routes"]
    previous = before["routes"]
    assert (
        routes["POST /messaging/v1/Services"] - previous.get("POST /messaging/v1/Services", 0) == 1
    )
    assert routes["GET /messaging/v1/Services"] - previous.get("GET /messaging/v1/Services", 0) == 2
    assert after["total"] - before["total"] == 3
    # Read-only: the stats endpoint takes no writes.
    assert requests.post(f"{emulator.url}/_emulator/stats", timeout=5).status_code == 405


def test_invalid_fault_settings_are_refused(emulator: EmulatorProcess) -> None:
    for body in ({"rate_429": 2}, {"nope": 1}, {"script": ["explode"]}, {"path_pattern": "("}, [1]):
        response = requests.post(f"{emulator.url}/_emulator/faults", json=body, timeout=5)
        assert response.status_code == 400, body


@pytest.fixture
def emulator_session(emulator: EmulatorProcess) -> requests.Session:
    session = requests.Session()
    session.auth = (emulator.account_sid, emulator.auth_token)
    return session
