"""`python -m emulator seed legacy|scale`: ready-made estates, served like any other (every
answer checked against the spec), and the stats an audit proves itself read-only with."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from twilio.rest import Client

from tests.support.emulator_process import REPO_ROOT, EmulatorProcess


def seed(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", "seed", *args, "--db", str(db_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    workdir = tmp_path_factory.mktemp("legacy")
    done = seed(workdir / "emulator.db", "legacy")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(
        "5 subaccounts, 5 Messaging Services, 7 numbers, 4 API keys, 60 messages"
    )
    process = EmulatorProcess(workdir, db_path=workdir / "emulator.db")
    process.start()
    yield process
    process.stop()


def test_the_legacy_estate_as_the_official_client_sees_it(
    legacy: EmulatorProcess, client_for: Callable[..., Client]
) -> None:
    parent = client_for(legacy)
    accounts = {a.friendly_name: a for a in parent.api.v2010.accounts.list()}
    assert {name: a.status for name, a in accounts.items() if a.sid != legacy.account_sid} == {
        "Acme Corp": "active",
        "Bayside Dental - prod": "active",
        "test account": "active",
        "Old pilot": "suspended",
        "Churned customer": "closed",
    }
    # The parent sends: a service of its own with a number, a loose number, 42 messages.
    services = {s.friendly_name: s for s in parent.messaging.v1.services.list()}
    assert services["Main messaging"].usecase == "undeclared"
    assert services["Main messaging"].status_callback is None
    pooled = parent.messaging.v1.services(services["Main messaging"].sid).phone_numbers.list()
    numbers = parent.incoming_phone_numbers.list()
    assert len(pooled) == 1 and len(numbers) == 2
    assert {n.sms_url for n in numbers} == {None, "http://legacy.example.com/sms/inbound"}
    assert len(parent.messages.list()) == 42
    today = datetime.now(UTC).date()
    usage = parent.api.v2010.accounts(legacy.account_sid).usage.records.list(
        category="sms-outbound",
        start_date=today - timedelta(days=30),
        end_date=today,
        include_subaccounts=False,
    )
    assert sum(int(record.count) for record in usage) == 42
    # Acme: two notifications services, one with a plain-http callback; standard keys only.
    acme = accounts["Acme Corp"]
    acme_client = client_for(legacy, acme.sid, acme.auth_token)
    callbacks = {
        s.friendly_name: (s.usecase, s.status_callback)
        for s in acme_client.messaging.v1.services.list()
    }
    assert callbacks["Acme alerts"] == (
        "notifications",
        "http://hooks.acme.example.com/twilio/status",
    )
    assert callbacks["Acme reminders"][0] == "notifications"
    keys = acme_client.iam.v1.get_api_keys.list(account_sid=acme.sid)
    assert sorted(k.friendly_name for k in keys) == ["acme web", "acme worker"]
    assert all(acme_client.iam.v1.api_key(k.sid).fetch().policy is None for k in keys)
    # The test account has no key at all.
    sandbox = accounts["test account"]
    sandbox_client = client_for(legacy, sandbox.sid, sandbox.auth_token)
    assert sandbox_client.iam.v1.get_api_keys.list(account_sid=sandbox.sid) == []


def test_a_seeded_database_is_not_seeded_twice(legacy: EmulatorProcess) -> None:
    again = seed(legacy.db_path, "legacy")
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "emulator seed: the database already holds an estate (5 subaccounts): seed a fresh --db"
    )


def test_the_scale_generator(tmp_path: Path, client_for: Callable[..., Client]) -> None:
    db_path = tmp_path / "scale.db"
    done = seed(db_path, "scale", "--subaccounts", "1100", "--numbers", "2205")
    assert done.returncode == 0, done.stderr
    assert "1100 subaccounts, 1100 Messaging Services, 2205 numbers, 1100 API keys" in done.stdout
    process = EmulatorProcess(tmp_path, db_path=db_path)
    process.start()
    try:
        parent = client_for(process)
        # Past the API's 1,000-subaccount limit: seeded like Twilio's back office would.
        accounts = list(parent.api.v2010.accounts.stream(page_size=1000))
        assert len(accounts) == 1101
        names = [a.friendly_name for a in accounts[1:4]]
        assert names == ["Development", "Staging", "Customer 00001"]
        first = accounts[1]
        numbers = parent.api.v2010.accounts(first.sid).incoming_phone_numbers.list()
        assert len(numbers) == 3  # 2205 = 2 x 1100 + 5: the first five get one more
        assert len({n.phone_number for n in numbers}) == 3
    finally:
        process.stop()


def test_stats_count_writes_and_requests_in_flight(legacy: EmulatorProcess) -> None:
    client = legacy.client()
    before = legacy.stats()
    client.messaging.v1.services.list()
    read = legacy.stats()
    assert read["writes"] == before["writes"]
    service = client.messaging.v1.services.create(friendly_name="probe")
    client.messaging.v1.services(service.sid).delete()
    after = legacy.stats()
    assert after["writes"] == before["writes"] + 2
    assert after["in_flight_peak"][legacy.account_sid] >= 1
