"""End to end: messages sent through the emulator, whose signed status callbacks reach the real
`python -m collector serve` (holding only the parent's emulator credentials) and are stored."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from twilio.rest import Client

from collector.events import parse_form
from collector.storage.database import create_database_engine
from collector.storage.schema import messages, status_events
from tests.collector.support import (
    CollectorProcess,
    callback_params,
    collector_cli,
    collector_environment,
    collector_process,
    free_port,
    message_sid,
    sign,
    spawned_workers,
)
from tests.support.emulator_process import EmulatorProcess, running_emulator
from twilio_access.client import build_client

SETTLED = {"delivered", "undelivered", "failed"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("collector-e2e")


@pytest.fixture(scope="module")
def emulator(workdir: Path) -> Iterator[EmulatorProcess]:
    args = ["--lifecycle-step-ms", "30", "--callback-retry-ms", "50", "--seed", "8"]
    with running_emulator(workdir / "emulator", extra_args=args) as running:
        yield running


@pytest.fixture(scope="module")
def database_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'collector.db'}"


@pytest.fixture(scope="module")
def env(emulator: EmulatorProcess) -> dict[str, str]:
    return collector_environment(emulator.url)


@pytest.fixture(scope="module")
def collector(database_url: str, env: dict[str, str], workdir: Path) -> Iterator[CollectorProcess]:
    # The tests create subaccounts as they go: the parent's list is read every second here
    # (once a minute by default).
    args = ("--accounts-refresh", "1")
    with collector_process(database_url, env, workdir, args) as running:
        yield running


@pytest.fixture(scope="module")
def engine(database_url: str, collector: CollectorProcess) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _fresh_faults(emulator: EmulatorProcess) -> Iterator[None]:
    yield
    emulator.reset_faults()


@dataclass
class Subaccount:
    sid: str
    client: Client  # signed by the subaccount itself (messaging v1 acts on the signer)
    number: str
    number_sid: str


def _subaccount(parent: Client, name: str, collector: CollectorProcess | None = None) -> Subaccount:
    """A subaccount with one SMS number bought for it by the parent; when `collector` is
    given, returned once that collector's list of the estate holds it."""
    known_before = collector.health()["estate"]["known_accounts"] if collector else 0
    account = parent.api.v2010.accounts.create(friendly_name=name)
    if collector is not None:
        deadline = time.monotonic() + 30
        while collector.health()["estate"]["known_accounts"] <= known_before:
            assert time.monotonic() < deadline, "the collector never listed the new subaccount"
            time.sleep(0.05)
    number = parent.api.v2010.accounts(account.sid).incoming_phone_numbers.create(area_code="415")
    emulator_url = parent.http_client.emulator_url  # type: ignore[attr-defined]
    own = build_client(account.sid, account.auth_token, emulator_url=emulator_url)
    return Subaccount(account.sid, own, number.phone_number, number.sid)


def _wait_settled(engine: Engine, sids: list[str], timeout: float = 30) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                select(messages.c.message_sid, messages.c.status).where(
                    messages.c.message_sid.in_(sids)
                )
            ).all()
        statuses = dict(rows)
        if len(statuses) == len(sids) and set(statuses.values()) <= SETTLED:
            return statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled in {timeout}s: {statuses}")
        time.sleep(0.05)


def _wait_until_some_answered(emulator: EmulatorProcess, sids: list[str]) -> None:
    deadline = time.monotonic() + 30
    while "delivered" not in {
        d["state"] for sid in sids for d in emulator.callbacks(message_sid=sid)
    }:
        assert time.monotonic() < deadline, "no callback answered within 30 s"
        time.sleep(0.01)


def _events_of(engine: Engine, sid: str) -> list:
    with engine.connect() as connection:
        return connection.execute(
            select(status_events)
            .where(status_events.c.message_sid == sid)
            .order_by(status_events.c.id)
        ).all()


def test_callbacks_signed_with_the_subaccounts_token_are_stored(
    emulator: EmulatorProcess, collector: CollectorProcess, engine: Engine
):
    parent = emulator.client()
    sub = _subaccount(parent, "e2e direct sends", collector)
    sub_sid, number = sub.sid, sub.number
    sent = [
        parent.api.v2010.accounts(sub_sid).messages.create(
            to=f"+1415555{i:04d}", from_=number, body="hello", status_callback=collector.status_url
        )
        for i in range(3)
    ]
    sids = [message.sid for message in sent]
    assert _wait_settled(engine, sids) == {sid: "delivered" for sid in sids}
    for sid in sids:
        events = _events_of(engine, sid)
        # Callbacks race each other (the first ones wait for the token read): any order.
        assert sorted(e.status for e in events) == ["delivered", "sending", "sent"]
        assert {e.account_sid for e in events} == {sub_sid}
        assert all(e.idempotency_token.startswith("ID") for e in events)
        [delivered] = [
            parse_form(e.body.encode()).as_archive() for e in events if e.status == "delivered"
        ]
        assert delivered["From"] == number and "RawDlrDoneDate" in delivered
        # Every delivery was answered 2xx at the first attempt: none was refused.
        deliveries = emulator.callbacks(message_sid=sid)
        assert [(d["state"], d["attempts"]) for d in deliveries] == [("delivered", 1)] * 3
    assert collector.health()["rejections"] == {}


def test_service_callbacks_out_of_order_settle_as_the_emulator_says(
    emulator: EmulatorProcess, collector: CollectorProcess, engine: Engine, database_url, env
):
    parent = emulator.client()
    sub = _subaccount(parent, "e2e service sends", collector)
    sub_sid, own = sub.sid, sub.client
    service = own.messaging.v1.services.create(
        friendly_name="notifications", status_callback=collector.status_url
    )
    own.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=sub.number_sid)
    emulator.set_faults(
        callback_jitter_ms=120, message_undelivered_rate=0.3, message_failed_rate=0.2, seed=3
    )
    sids = [
        own.messages.create(to=f"+1415666{i:04d}", messaging_service_sid=service.sid, body="x").sid
        for i in range(12)
    ]
    stored = _wait_settled(engine, sids)
    truth = {sid: own.messages(sid).fetch() for sid in sids}
    assert stored == {sid: message.status for sid, message in truth.items()}
    assert len(set(stored.values())) > 1  # the mix of outcomes is exercised
    with engine.connect() as connection:
        rows = connection.execute(select(messages).where(messages.c.message_sid.in_(sids))).all()
    for row in rows:
        assert row.messaging_service_sid == service.sid
        expected_code = truth[row.message_sid].error_code
        assert row.error_code == (str(expected_code) if expected_code else None)

    report = collector_cli(
        [
            "report",
            "--by",
            "service",
            "--format",
            "json",
            "--account",
            sub_sid,
            "--db",
            database_url,
        ],
        env,
    )
    assert report.returncode == 0, report.stderr
    [row] = json.loads(report.stdout)["rows"]
    assert row["key"] == service.sid
    assert row["messages"] == 12
    assert row["delivered"] == sum(1 for s in stored.values() if s == "delivered")
    assert row["undelivered"] == sum(1 for s in stored.values() if s == "undelivered")
    assert row["failed"] == sum(1 for s in stored.values() if s == "failed")


def test_a_rotated_subaccount_token_keeps_working(
    emulator: EmulatorProcess, collector: CollectorProcess, engine: Engine
):
    parent = emulator.client()
    sub = _subaccount(parent, "e2e rotation", collector)
    sub_sid, number = sub.sid, sub.number
    first = parent.api.v2010.accounts(sub_sid).messages.create(
        to="+14155550001", from_=number, body="before", status_callback=collector.status_url
    )
    _wait_settled(engine, [first.sid])
    # Rotate the token as the Console would (the API has no call for it): in the emulator's
    # database, which it reads on every callback. The collector still caches the old token.
    with sqlite3.connect(emulator.db_path) as database:
        database.execute(
            "UPDATE resources SET doc = json_set(doc, '$.auth_token', ?) WHERE sid = ?",
            ("f" * 32, sub_sid),
        )
    second = parent.api.v2010.accounts(sub_sid).messages.create(
        to="+14155550002", from_=number, body="after", status_callback=collector.status_url
    )
    _wait_settled(engine, [second.sid])
    assert sorted(e.status for e in _events_of(engine, second.sid)) == [
        "delivered",
        "sending",
        "sent",
    ]
    assert all(d["attempts"] == 1 for d in emulator.callbacks(message_sid=second.sid))


def test_forged_and_unknown_account_callbacks_are_refused(
    emulator: EmulatorProcess, collector: CollectorProcess
):
    import httpx

    parent = emulator.client()
    sub_sid = _subaccount(parent, "e2e forgery", collector).sid
    before = collector.health()["answers"].get("403", 0)
    for account, token in ((sub_sid, emulator.auth_token), ("AC" + "9" * 32, emulator.auth_token)):
        params = callback_params(account, message_sid(), "delivered")
        response = httpx.post(
            collector.status_url,
            data=params,
            headers={"X-Twilio-Signature": sign(collector.status_url, params, token)},
        )
        assert response.status_code == 403
    assert collector.health()["answers"]["403"] == before + 2


def test_report_spend_comes_from_the_emulators_usage_records(
    emulator: EmulatorProcess, collector: CollectorProcess, engine: Engine, database_url, env
):
    parent = emulator.client()
    sub = _subaccount(parent, "e2e spend", collector)
    sub_sid, number = sub.sid, sub.number
    sids = [
        parent.api.v2010.accounts(sub_sid)
        .messages.create(
            to=f"+1415777{i:04d}", from_=number, body="priced", status_callback=collector.status_url
        )
        .sid
        for i in range(4)
    ]
    _wait_settled(engine, sids)
    records = parent.api.v2010.accounts(sub_sid).usage.records.today.list(
        category="sms", include_subaccounts=False
    )
    expected = sum(Decimal(repr(float(r.price))) for r in records)
    assert expected > 0

    result = collector_cli(
        [
            "report",
            "--by",
            "account",
            "--format",
            "json",
            "--usage",
            "--account",
            sub_sid,
            "--db",
            database_url,
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)["rows"]
    assert (row["key"], row["messages"], row["delivered"]) == (sub_sid, 4, 4)
    assert Decimal(row["spend"]) == expected
    assert row["spend_unit"] == "USD"

    table = collector_cli(["report", "--usage", "--db", database_url], env)
    assert table.returncode == 0, table.stderr
    assert sub_sid in table.stdout and f"{expected} USD" in table.stdout

    waited = collector_cli(
        ["wait", "--messages", "4", "--timeout", "10", "--db", database_url], env
    )
    assert waited.returncode == 0, waited.stderr


def test_several_worker_processes_store_every_callback_once(
    emulator: EmulatorProcess, env: dict[str, str], workdir: Path
):
    database_url = f"sqlite:///{workdir / 'workers.db'}"
    parent = emulator.client()
    sub = _subaccount(parent, "e2e workers")  # listed by both workers when they start
    with collector_process(database_url, env, workdir, workers=2) as collector:
        sids = [
            parent.api.v2010.accounts(sub.sid)
            .messages.create(
                to=f"+1415888{i:04d}",
                from_=sub.number,
                body="w",
                status_callback=collector.status_url,
            )
            .sid
            for i in range(10)
        ]
        engine = create_database_engine(database_url)
        try:
            assert _wait_settled(engine, sids) == dict.fromkeys(sids, "delivered")
            with engine.connect() as connection:
                stored = connection.execute(select(status_events.c.message_sid)).scalars().all()
        finally:
            engine.dispose()
        assert sorted(stored) == sorted(sids * 3)
        deliveries = [d for sid in sids for d in emulator.callbacks(message_sid=sid)]
        assert {d["state"] for d in deliveries} == {"delivered"}
        # uvicorn's supervisor runs the two workers, each with a writer of its own.
        assert len(spawned_workers(collector.process.pid)) == 2
        assert collector.health()["pid"] in spawned_workers(collector.process.pid)


@pytest.mark.reliability
def test_every_acknowledged_callback_survives_a_killed_collector(
    emulator: EmulatorProcess, env: dict[str, str], workdir: Path
):
    """SIGKILL the collector while callbacks stream in, start it again on the same port: every
    callback the emulator saw answered 2xx is stored, and the retried ones arrive once."""
    database_url = f"sqlite:///{workdir / 'killed.db'}"
    port = free_port()
    # Messages take 0.6 s to deliver, callbacks are retried for ~7 minutes.
    emulator.set_faults(lifecycle_step_ms=200, callback_attempts=12, callback_retry_ms=100)
    parent = emulator.client()
    sub = _subaccount(parent, "e2e kill")

    def send(first_index: int) -> list[str]:
        return [
            parent.api.v2010.accounts(sub.sid)
            .messages.create(
                to=f"+1415999{i:04d}", from_=sub.number, body="k", status_callback=status_url
            )
            .sid
            for i in range(first_index, first_index + 10)
        ]

    with collector_process(database_url, env, workdir, port=port) as first:
        status_url = first.status_url
        sids = send(0)
        # Kill while the first messages' callbacks stream in, once some were answered.
        _wait_until_some_answered(emulator, sids)
        first.process.kill()
        first.process.wait(10)
    # Sent while the collector is down: their callbacks meet a dead port and are retried
    # after the restart, however fast or slow the machine delivered the first ten.
    sids += send(10)
    answered_before_kill = {
        d["id"]
        for sid in sids
        for d in emulator.callbacks(message_sid=sid)
        if d["state"] == "delivered"
    }
    with collector_process(database_url, env, workdir, port=port):
        engine = create_database_engine(database_url)
        try:
            assert _wait_settled(engine, sids) == dict.fromkeys(sids, "delivered")
            # Callbacks refused during the restart are still being retried: wait for them.
            deadline = time.monotonic() + 30
            while any(
                d["state"] == "pending" for sid in sids for d in emulator.callbacks(message_sid=sid)
            ):
                assert time.monotonic() < deadline, "callbacks still pending after 30 s"
                time.sleep(0.1)
            with engine.connect() as connection:
                stored = (
                    connection.execute(
                        select(status_events.c.idempotency_token).where(
                            status_events.c.message_sid.in_(sids)
                        )
                    )
                    .scalars()
                    .all()
                )
        finally:
            engine.dispose()
    deliveries = [d for sid in sids for d in emulator.callbacks(message_sid=sid)]
    assert {d["state"] for d in deliveries} == {"delivered"}
    # The kill fell in the middle of the traffic: some answered before, some retried after.
    assert answered_before_kill
    assert any(d["attempts"] > 1 for d in deliveries)
    # Each callback stored exactly once, those answered before the kill included.
    assert sorted(stored) == sorted(d["idempotency_token"] for d in deliveries)
