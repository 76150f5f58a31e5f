"""Storage on SQLite and PostgreSQL: exactly once, order-independent, durable group commits."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time

import pytest
from sqlalchemy import Engine, func, select

from collector.events import parse_form
from collector.storage.database import create_database_engine
from collector.storage.migrations import migrate
from collector.storage.schema import messages, status_events
from collector.storage.writer import (
    GroupCommitWriter,
    WriterStopped,
    prepare_writes,
    store_events,
)
from tests.collector.support import OTHER_SERVICE_SID, SUB_SID, event, message_sid


@pytest.fixture
def engine(database_url: str):
    migrate(database_url)
    engine = create_database_engine(database_url, sqlite_begin="IMMEDIATE")
    yield engine
    engine.dispose()


def _store(engine: Engine, events) -> None:
    with engine.begin() as connection:
        store_events(connection, events)


def _message(engine: Engine, sid: str):
    with engine.connect() as connection:
        return connection.execute(select(messages).where(messages.c.message_sid == sid)).one()


def _event_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(status_events)).scalar_one()


def test_a_replayed_callback_is_stored_once(engine: Engine):
    sid = message_sid()
    sent = event(SUB_SID, sid, "sent", 100.0)
    _store(engine, [sent])
    _store(engine, [sent])
    _store(engine, [sent, dataclasses.replace(sent, received_at_us=sent.received_at_us + 5)])
    assert _event_count(engine) == 1
    assert _message(engine, sid).status == "sent"


def test_a_late_sent_never_overwrites_delivered(engine: Engine):
    sid = message_sid()
    _store(engine, [event(SUB_SID, sid, "delivered", 103.0)])
    _store(engine, [event(SUB_SID, sid, "sent", 102.0)])
    _store(engine, [event(SUB_SID, sid, "queued", 100.0)])
    row = _message(engine, sid)
    assert (row.status, row.first_seen_us, row.delivered_us) == (
        "delivered",
        100_000_000,
        103_000_000,
    )
    assert _event_count(engine) == 3


def test_every_arrival_order_settles_on_the_same_message_row(engine: Engine):
    """All 120 orders of one message's five callbacks, each order as separate commits."""
    results = set()
    for order in itertools.permutations(range(5)):
        sid = message_sid()
        lifecycle = [
            event(SUB_SID, sid, "queued", 100.0, service=None),
            event(SUB_SID, sid, "sending", 100.1),
            event(SUB_SID, sid, "sent", 100.2),
            event(SUB_SID, sid, "undelivered", 100.3, error_code="30003"),
            event(SUB_SID, sid, "delivered", 100.4),
        ]
        for index in order:
            _store(engine, [lifecycle[index]])
        row = _message(engine, sid)
        results.add(
            (
                row.status,
                row.error_code,
                row.first_seen_us,
                row.delivered_us,
                row.last_event_us,
                row.messaging_service_sid,
                row.day,
            )
        )
    assert results == {
        ("delivered", None, 100_000_000, 100_400_000, 100_400_000, "MG" + "d" * 32, "1970-01-01")
    }


def test_one_batch_may_hold_several_events_of_one_message_and_duplicates(engine: Engine):
    sid = message_sid()
    failed = event(SUB_SID, sid, "failed", 50.0, error_code="30008", service=OTHER_SERVICE_SID)
    batch = [
        event(SUB_SID, sid, "queued", 49.0),
        failed,
        failed,
        event(SUB_SID, sid, "sending", 49.5),
    ]
    _store(engine, batch)
    row = _message(engine, sid)
    assert (row.status, row.error_code, row.messaging_service_sid) == (
        "failed",
        "30008",
        "MG" + "d" * 32,
    )
    assert _event_count(engine) == 3


@pytest.mark.parametrize("size", [1, 31, 64, 65, 200, 700])
def test_a_batch_of_any_size_is_stored_whole_in_few_statements(engine: Engine, size: int):
    batch = [event(SUB_SID, message_sid(), "delivered", 60.0 + n) for n in range(size)]
    writes = prepare_writes(engine.dialect, batch)
    if engine.dialect.name == "sqlite" and size <= 64:
        assert len(writes) == 2  # one multi-row statement per table
    _store(engine, batch)
    assert _event_count(engine) == size


def test_the_archive_keeps_the_parameters_as_received(engine: Engine):
    stored = event(
        SUB_SID, message_sid(), "delivered", 10.0, RawDlrDoneDate="2511271355", Extra="x"
    )
    _store(engine, [stored])
    with engine.connect() as connection:
        body = connection.execute(select(status_events.c.body)).scalar_one()
    assert body == stored.body
    assert parse_form(body.encode()).get("Extra") == "x"


def _writer(database_url: str) -> GroupCommitWriter:
    writer = GroupCommitWriter(create_database_engine(database_url, sqlite_begin="IMMEDIATE"))
    writer.start()
    return writer


def test_the_group_commit_writer_answers_each_write_after_its_commit(database_url: str, engine):
    writer = _writer(database_url)
    # Another engine, as a reader would be: a write answered must already be visible there.
    reader = create_database_engine(database_url)
    events = [event(SUB_SID, message_sid(), "sent", 200.0 + i) for i in range(300)]

    async def write_all() -> None:
        async def one(item) -> None:
            await writer.write(item)
            with reader.connect() as connection:
                found = connection.execute(
                    select(func.count()).where(status_events.c.event_key == item.event_key)
                ).scalar_one()
            assert found == 1

        await asyncio.gather(*(one(item) for item in events))
        await writer.aclose()

    try:
        asyncio.run(write_all())
    finally:
        reader.dispose()
        writer.engine.dispose()
    assert _event_count(engine) == 300
    assert writer.stats.events == 300
    # Concurrent writes shared commits.
    assert writer.stats.commits < 300
    assert writer.stats.largest_batch > 1


def test_a_bad_event_fails_alone_not_the_group_it_was_committed_with(database_url: str, engine):
    writer = _writer(database_url)
    good = [event(SUB_SID, message_sid(), "sent", 300.0 + i) for i in range(20)]
    # NOT NULL violation on both backends.
    bad = dataclasses.replace(good[0], event_key="f" * 64, body=None)

    async def write_all():
        outcomes = await asyncio.gather(
            *(writer.write(item) for item in [*good[:10], bad, *good[10:]]), return_exceptions=True
        )
        await writer.aclose()
        return outcomes

    try:
        outcomes = asyncio.run(write_all())
    finally:
        writer.engine.dispose()
    assert isinstance(outcomes[10], WriterStopped)
    assert [o for i, o in enumerate(outcomes) if i != 10] == [None] * 20
    assert _event_count(engine) == 20


def test_closing_finishes_accepted_writes_and_refuses_new_ones(database_url: str, engine):
    writer = _writer(database_url)
    events = [event(SUB_SID, message_sid(), "sent", 400.0 + i) for i in range(50)]

    async def write_then_close():
        accepted = [writer.submit(item) for item in events]  # queued before closing
        await writer.aclose()
        assert all(future.done() and future.exception() is None for future in accepted)
        with pytest.raises(WriterStopped):
            await writer.write(event(SUB_SID, message_sid(), "sent", 500.0))

    asyncio.run(write_then_close())
    writer.engine.dispose()
    assert _event_count(engine) == 50


def test_a_sqlite_write_lock_held_elsewhere_never_blocks_the_event_loop(sqlite_url: str):
    """Another process (here: connection) holds the write lock; the loop keeps running and
    the write goes through once the lock is free."""
    migrate(sqlite_url)
    writer = _writer(sqlite_url)
    blocker = create_database_engine(sqlite_url, sqlite_begin="IMMEDIATE")

    async def scenario() -> float:
        lock = blocker.connect()
        lock.begin()  # BEGIN IMMEDIATE: the write lock
        write = asyncio.ensure_future(writer.write(event(SUB_SID, message_sid(), "sent", 1.0)))
        # The loop keeps running while the write waits: it ticks until the writer has tried
        # the lock several times, never blocked by it.
        ticks = 0
        deadline = time.monotonic() + 10
        while writer.stats.lock_waits < 3 or ticks < 20:
            assert time.monotonic() < deadline, "the writer never retried the lock"
            await asyncio.sleep(0.001)
            ticks += 1
        assert not write.done()
        lock.rollback()
        lock.close()
        await asyncio.wait_for(write, 10)
        await writer.aclose()
        return ticks

    try:
        assert asyncio.run(scenario()) >= 20
    finally:
        writer.engine.dispose()
        blocker.dispose()
    assert writer.stats.lock_waits >= 1 and writer.stats.events == 1


def test_sqlite_is_in_wal_mode_with_full_fsync(sqlite_url: str):
    engine = create_database_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_writers_in_separate_processes_take_turns_at_sqlite(sqlite_url: str):
    """`serve --workers N`: each worker has its own writer; they take turns at SQLite's write
    lock (here: two writers on their own threads and event loops, like two processes)."""
    import threading

    migrate(sqlite_url)
    writers = [_writer(sqlite_url), _writer(sqlite_url)]
    batches = [
        [event(SUB_SID, message_sid(), "sent", 600.0 + i) for i in range(400)] for _ in writers
    ]
    errors: list[BaseException] = []

    def run(writer: GroupCommitWriter, events) -> None:
        async def write_all() -> None:
            await asyncio.gather(*(writer.write(item) for item in events))
            await writer.aclose()

        try:
            asyncio.run(write_all())
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=pair) for pair in zip(writers, batches, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for writer in writers:
        writer.engine.dispose()
    assert errors == []
    engine = create_database_engine(sqlite_url)
    assert _event_count(engine) == 800
    engine.dispose()
    assert [w.stats.events for w in writers] == [400, 400]
    assert [w.stats.failed_commits for w in writers] == [0, 0]


def test_a_long_held_sqlite_lock_is_waited_for_by_the_writer_thread(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
):
    from collector.storage import writer as writer_module

    monkeypatch.setattr(writer_module, "LOCK_POLL_LIMIT_S", 0.05)
    migrate(sqlite_url)
    writer = _writer(sqlite_url)
    blocker = create_database_engine(sqlite_url, sqlite_begin="IMMEDIATE")

    async def scenario() -> None:
        lock = blocker.connect()
        lock.begin()
        write = asyncio.ensure_future(writer.write(event(SUB_SID, message_sid(), "sent", 2.0)))
        # Past the polling limit the batch goes to the writer thread, which waits for the
        # lock there (busy_timeout) instead of the loop polling for it.
        deadline = time.monotonic() + 10
        while writer._in_flight is None:
            assert time.monotonic() < deadline, "the batch never went to the writer thread"
            await asyncio.sleep(0.005)
        assert not write.done()
        lock.rollback()
        lock.close()
        await asyncio.wait_for(write, 10)
        await writer.aclose()

    try:
        asyncio.run(scenario())
    finally:
        writer.engine.dispose()
        blocker.dispose()
    assert writer.stats.events == 1 and writer.stats.lock_waits >= 2
