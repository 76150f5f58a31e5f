"""Durable, exactly-once event writes, and the group-commit writer that makes them fast.

Every request's event must be committed before its 2xx answer. Committing once per request
spends most of the time in per-transaction costs (lock, WAL append, fsync). The writer instead
takes every event that arrived while the previous commit ran and commits them together; each
waiting request is answered when the commit holding its event returns. Under load, batches grow
on their own; a lone request still gets a commit of its own at once, with no added delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, and_, case, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from collector.events import StatusEvent
from collector.statuses import DELIVERED_STATUSES
from collector.storage.schema import messages, status_events

log = logging.getLogger(__name__)


_US_PER_DAY = 86_400_000_000


def day_of(timestamp_us: int) -> str:
    """The UTC day of a timestamp, YYYY-MM-DD."""
    return _day_name(timestamp_us // _US_PER_DAY)


@functools.lru_cache(maxsize=64)
def _day_name(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86_400, UTC).strftime("%Y-%m-%d")


@functools.cache
def _statements(dialect_name: str) -> tuple[Any, Any]:
    """The two write statements, built once per dialect (SQLAlchemy caches their SQL)."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    insert_events = insert(status_events).on_conflict_do_nothing(
        index_elements=[status_events.c.event_key]
    )
    upsert = insert(messages)
    new, old = upsert.excluded, messages.c
    higher = new.status_rank > old.status_rank
    earlier = new.first_seen_us < old.first_seen_us
    # Every column merges by a rule that ignores arrival order: best rank, earliest first
    # sighting, earliest delivery, latest event, first non-empty service and sender.
    upsert = upsert.on_conflict_do_update(
        index_elements=[old.message_sid],
        set_={
            "status": case((higher, new.status), else_=old.status),
            "error_code": case((higher, new.error_code), else_=old.error_code),
            "status_rank": case((higher, new.status_rank), else_=old.status_rank),
            "first_seen_us": case((earlier, new.first_seen_us), else_=old.first_seen_us),
            "day": case((earlier, new.day), else_=old.day),
            "last_event_us": case(
                (new.last_event_us > old.last_event_us, new.last_event_us), else_=old.last_event_us
            ),
            "delivered_us": case(
                (
                    and_(
                        new.delivered_us.is_not(None),
                        or_(old.delivered_us.is_(None), new.delivered_us < old.delivered_us),
                    ),
                    new.delivered_us,
                ),
                else_=old.delivered_us,
            ),
            "messaging_service_sid": func.coalesce(
                old.messaging_service_sid, new.messaging_service_sid
            ),
            "sender": func.coalesce(old.sender, new.sender),
        },
    )
    return insert_events, upsert


def _merge(current: dict[str, Any] | None, event: StatusEvent) -> dict[str, Any]:
    """The per-message row after `event`, by the same rules as the SQL upsert, so a batch sends
    one row per message (PostgreSQL refuses to upsert one row twice in a statement)."""
    delivered_us = event.received_at_us if event.status in DELIVERED_STATUSES else None
    if current is None:
        return {
            "message_sid": event.message_sid,
            "account_sid": event.account_sid,
            "messaging_service_sid": event.messaging_service_sid,
            "sender": event.sender,
            "status": event.status,
            "status_rank": event.status_rank,
            "error_code": event.error_code,
            "first_seen_us": event.received_at_us,
            "last_event_us": event.received_at_us,
            "delivered_us": delivered_us,
            "day": day_of(event.received_at_us),
        }
    row = dict(current)
    if event.status_rank > row["status_rank"]:
        row.update(status=event.status, status_rank=event.status_rank, error_code=event.error_code)
    if event.received_at_us < row["first_seen_us"]:
        row.update(first_seen_us=event.received_at_us, day=day_of(event.received_at_us))
    row["last_event_us"] = max(row["last_event_us"], event.received_at_us)
    if delivered_us is not None and (
        row["delivered_us"] is None or delivered_us < row["delivered_us"]
    ):
        row["delivered_us"] = delivered_us
    row["messaging_service_sid"] = row["messaging_service_sid"] or event.messaging_service_sid
    row["sender"] = row["sender"] or event.sender
    return row


EVENT_COLUMNS = (
    "event_key",
    "received_at_us",
    "account_sid",
    "message_sid",
    "status",
    "error_code",
    "messaging_service_sid",
    "sender",
    "idempotency_token",
    "body",
)
MESSAGE_COLUMNS = tuple(column.name for column in messages.columns)


# Rows per multi-row INSERT on SQLite, largest first: a batch is cut into these sizes so the
# driver's statement cache holds every statement text the writer uses.
_CHUNK_SIZES = (512, 128, 32, 8, 1)


@dataclass(frozen=True)
class _DriverSql:
    """A statement compiled once for a dialect, run through the driver directly.

    SQLite: one multi-row INSERT per chunk of rows. The sqlite3 module releases the GIL around
    every row of an `executemany` (and every statement); one statement per chunk keeps those
    hand-offs few. PostgreSQL: psycopg's pipelined `executemany` (PostgreSQL refuses a
    multi-row upsert that meets one key twice; ours never does, but the pipeline is as fast).
    Rows are tuples in `columns` order.
    """

    sql: str
    columns: tuple[str, ...]
    positional: bool
    head: str = ""  # "INSERT INTO t (...) VALUES "
    group: str = ""  # "(?, ?, ...)"
    tail: str = ""  # " ON CONFLICT ..."

    @classmethod
    def of(cls, compiled: Any, columns: tuple[str, ...], positional: bool) -> _DriverSql:
        sql = compiled.string
        if not positional:
            return cls(sql, columns, positional)
        # The placeholders follow the INSERT's column list, which is `columns`.
        assert tuple(compiled.positiontup) == columns, compiled.positiontup
        head, separator, rest = sql.partition(" VALUES ")
        group_end = rest.index(")") + 1
        assert separator and rest.startswith("("), sql
        return cls(sql, columns, positional, head + separator, rest[:group_end], rest[group_end:])

    def statements(self, rows: Sequence[tuple]) -> list[tuple[str, Any]]:
        """The driver calls that write `rows`: (SQL, parameters) pairs."""
        if not rows:
            return []
        if not self.positional:
            return [(self.sql, [dict(zip(self.columns, row, strict=True)) for row in rows])]
        calls = []
        start = 0
        for size in _CHUNK_SIZES:
            while len(rows) - start >= size:
                values = tuple(value for row in rows[start : start + size] for value in row)
                calls.append((self.head + ", ".join([self.group] * size) + self.tail, values))
                start += size
        return calls


_DRIVER_SQL: dict[tuple[str, str, str], tuple[_DriverSql, _DriverSql]] = {}


def _driver_sql(dialect: Dialect) -> tuple[_DriverSql, _DriverSql]:
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    if key not in _DRIVER_SQL:
        _DRIVER_SQL[key] = _compile_for(dialect)
    return _DRIVER_SQL[key]


def _compile_for(dialect: Dialect) -> tuple[_DriverSql, _DriverSql]:
    # Executed through the driver: SQLAlchemy's per-row parameter processing was a third of
    # the writer's CPU, and that CPU competes (GIL) with answering requests.
    compiled = []
    for statement, columns in zip(
        _statements(dialect.name), (EVENT_COLUMNS, MESSAGE_COLUMNS), strict=True
    ):
        sql = statement.compile(dialect=dialect, column_keys=list(columns))
        compiled.append(_DriverSql.of(sql, columns, dialect.positional))
    return compiled[0], compiled[1]


def _event_row(event: StatusEvent) -> tuple:
    return (
        event.event_key,
        event.received_at_us,
        event.account_sid,
        event.message_sid,
        event.status,
        event.error_code,
        event.messaging_service_sid,
        event.sender,
        event.idempotency_token,
        event.body,
    )


def prepare_writes(dialect: Dialect, events: Sequence[StatusEvent]) -> list[tuple[str, Any]]:
    """The driver calls that store `events`: archive rows once per event key, and the
    per-message status merged in. Replays and reorderings leave the same result.

    Pure Python, apart from the database: the group-commit writer prepares on the event loop
    and runs the calls on its thread, where the driver does the work without the GIL."""
    unique: dict[str, StatusEvent] = {}
    for event in events:
        unique.setdefault(event.event_key, event)
    merged: dict[str, dict[str, Any]] = {}
    for event in unique.values():
        merged[event.message_sid] = _merge(merged.get(event.message_sid), event)
    insert_events, upsert_messages = _driver_sql(dialect)
    return insert_events.statements([_event_row(e) for e in unique.values()]) + (
        upsert_messages.statements(
            [tuple(row[name] for name in MESSAGE_COLUMNS) for row in merged.values()]
        )
    )


def run_writes(connection: Connection, writes: Sequence[tuple[str, Any]]) -> None:
    """Run prepared writes in the caller's transaction."""
    for sql, parameters in writes:
        connection.exec_driver_sql(sql, parameters)


def store_events(connection: Connection, events: Sequence[StatusEvent]) -> None:
    """Write `events` in the caller's transaction (see `prepare_writes`)."""
    run_writes(connection, prepare_writes(connection.dialect, events))


@dataclass
class WriterStats:
    commits: int = 0
    events: int = 0
    largest_batch: int = 0
    failed_commits: int = 0
    lock_waits: int = 0  # SQLite: flushes put off because another process held the lock
    commit_seconds: float = 0.0  # time spent in COMMIT (the fsync), summed


class WriterStopped(RuntimeError):
    """The writer is shut down, or its commit failed: the event was not stored."""


Waiter = tuple[StatusEvent, asyncio.Future]
BUSY_TIMEOUT_MS = 30_000  # the thread's retries, one event per transaction, may wait
# How long a thread waiting for the GIL lets a busy thread keep it. With the default, 5 ms, the
# writer thread could wait that long after each COMMIT while the event loop was busy; `serve`
# sets this (it is process-wide).
WRITER_SWITCH_INTERVAL_S = 0.0005
# Another process holds SQLite's write lock: try again after 0.2 ms, doubling to 1 ms, for up to
# 5 s; then the writer thread waits (up to BUSY_TIMEOUT_MS) so the loop is never blocked.
LOCK_RETRY_FIRST_S = 0.0002
LOCK_RETRY_MAX_S = 0.001
LOCK_POLL_LIMIT_S = 5.0
SQLITE_BUSY = 5


class GroupCommitWriter:
    """One writer: events queue up in the event loop while a commit runs; the next commit takes
    all of them. `await writer.write(event)` returns once a commit holding the event returned.

    Batching happens on the event loop's thread: no lock or thread hand-off per event. The
    database work of a batch runs as follows:

    - SQLite: the loop takes the write lock and prepares the batch's statements (Python work:
      merging, row tuples); the writer thread runs them straight through the driver and
      commits. Each driver call is one C call that lets go of the GIL while SQLite inserts,
      writes the WAL and waits for the fsync, so that work runs on the other core; the thread
      needs the GIL back only a few times per batch (a thread that must win it back from a
      busy loop waits up to a switch interval each time; `serve` shortens that interval).
      The loop never blocks on SQLite's write lock: it tries to take it without waiting and,
      when another process has it (another worker of `serve --workers N`, a migration), tries
      again shortly, the batch growing meanwhile. SQLite lets go of the lock inside COMMIT,
      without the GIL, so a worker waiting for it never waits for another's GIL as well.
    - PostgreSQL (any other database): the whole batch runs on the writer thread; the driver
      waits on the network with the GIL released.

    A failed batch is retried one event per transaction, so one bad event cannot fail the
    requests it shared a commit with. At most one batch is in flight: the commit order is the
    batch order, and a batch's events are answered together.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 512) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.stats = WriterStats()
        self._sqlite = engine.dialect.name == "sqlite"
        self._lock_retry: asyncio.TimerHandle | None = None
        self._lock_backoff = LOCK_RETRY_FIRST_S
        self._lock_wait_since: float | None = None
        self._pending: list[Waiter] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._connection: Connection | None = None
        self._in_flight: asyncio.Future | None = None
        self._flush_scheduled = False
        self._stopping = False
        self._busy_timeout_ms: int | None = None

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="collector-writer")
        self._stopping = False

    async def write(self, event: StatusEvent) -> None:
        await self.submit(event)

    def submit(self, event: StatusEvent) -> asyncio.Future:
        """Queue `event`; the future completes when a commit holding it has returned."""
        if self._stopping or self._executor is None:
            raise WriterStopped("the collector is shutting down")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        future = loop.create_future()
        self._pending.append((event, future))
        self._schedule()
        return future

    async def aclose(self) -> None:
        """Commit every event already accepted, then stop (new writes are refused)."""
        self._stopping = True
        while self._pending or self._in_flight is not None:
            if self._in_flight is not None:
                await asyncio.shield(self._in_flight)
            elif self._lock_retry is not None:
                await asyncio.sleep(self._lock_backoff)
            else:
                self._flush()
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # --- the loop's side ------------------------------------------------------------------

    def _schedule(self) -> None:
        # After the requests that are ready in this loop iteration: they join the batch.
        if not self._flush_scheduled and self._in_flight is None and self._lock_retry is None:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._lock_retry = None
        if self._in_flight is not None or not self._pending:
            return
        if not self._sqlite:
            batch = self._take_batch()
            self._hand_over(functools.partial(self._write_and_commit, batch), batch)
            return
        try:
            connection = self._writer_connection()
            self._busy_timeout(connection, 0)
            connection.begin()  # BEGIN IMMEDIATE: SQLite's write lock, or SQLITE_BUSY at once
        except Exception as error:
            if self._keep_polling(error):
                # Another process is writing: try again soon, with whatever has arrived by then.
                assert self._loop is not None
                self._lock_retry = self._loop.call_later(self._lock_backoff, self._flush)
                self._lock_backoff = min(self._lock_backoff * 2, LOCK_RETRY_MAX_S)
                return
            # Locked for long, or broken: the thread waits (busy_timeout) or reports the error.
            self._lock_wait_since = None
            batch = self._take_batch()
            self._hand_over(functools.partial(self._write_and_commit, batch), batch)
            return
        self._lock_backoff = LOCK_RETRY_FIRST_S
        self._lock_wait_since = None
        batch = self._take_batch()
        try:
            writes = prepare_writes(connection.dialect, [event for event, _ in batch])
        except Exception:
            connection.rollback()
            # The thread retries it, event by event if need be.
            self._hand_over(functools.partial(self._write_and_commit, batch), batch)
            return
        self._hand_over(functools.partial(self._write_prepared, writes, batch), batch)

    def _keep_polling(self, error: Exception) -> bool:
        """SQLITE_BUSY, for less than LOCK_POLL_LIMIT_S so far."""
        code = getattr(getattr(error, "orig", None), "sqlite_errorcode", None)
        if not isinstance(error, OperationalError) or code is None or code & 0xFF != SQLITE_BUSY:
            return False
        now = time.monotonic()
        if self._lock_wait_since is None:
            self._lock_wait_since = now
        self.stats.lock_waits += 1
        return now - self._lock_wait_since < LOCK_POLL_LIMIT_S

    def _take_batch(self) -> list[Waiter]:
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        return batch

    def _hand_over(self, work, batch: list[Waiter]) -> None:
        assert self._loop is not None and self._executor is not None
        self._in_flight = self._loop.run_in_executor(self._executor, work)
        self._in_flight.add_done_callback(functools.partial(self._committed, batch))

    def _committed(self, batch: list[Waiter], done: asyncio.Future) -> None:
        self._in_flight = None
        try:
            failures: dict[int, BaseException] = done.result()
        except BaseException as error:  # a bug or a cancelled executor: nobody waits forever
            log.error("writer failed: %r", error)
            failures = dict.fromkeys(range(len(batch)), error)
        for index, (_, future) in enumerate(batch):
            if future.done():
                continue  # the request went away; its event is stored anyway
            failure = failures.get(index)
            if failure is None:
                future.set_result(None)
            else:
                future.set_exception(WriterStopped(f"event not stored: {failure}"))
        if self._pending:
            self._schedule()

    # --- the writer thread's side -----------------------------------------------------------

    def _writer_connection(self) -> Connection:
        if self._connection is None:
            self._connection = self.engine.connect()
            self._busy_timeout_ms = None
        return self._connection

    def _busy_timeout(self, connection: Connection, milliseconds: int) -> None:
        # On the driver's connection: through SQLAlchemy, the PRAGMA would open a transaction.
        if self._busy_timeout_ms != milliseconds:
            _driver(connection).execute(f"PRAGMA busy_timeout={milliseconds}")
            self._busy_timeout_ms = milliseconds

    def _write_prepared(
        self, writes: list[tuple[str, Any]], batch: list[Waiter]
    ) -> dict[int, BaseException]:
        connection = self._writer_connection()
        # Straight to the driver: each call is one C call that lets go of the GIL while SQLite
        # works, and takes it back once; nothing else here competes with the event loop.
        driver = _driver(connection)
        started = time.perf_counter()
        try:
            for sql, parameters in writes:
                driver.execute(sql, parameters)
            connection.commit()
        except Exception as error:
            self.stats.failed_commits += 1
            log.warning("commit of %d events failed (%s); writing them again", len(batch), error)
            with contextlib.suppress(Exception):
                connection.rollback()
            return self._write_and_commit(batch)
        self.stats.commit_seconds += time.perf_counter() - started
        self._count(len(batch))
        return {}

    def _write_and_commit(self, batch: list[Waiter]) -> dict[int, BaseException]:
        connection = self._writer_connection()
        events = [event for event, _ in batch]
        if self._sqlite:
            self._busy_timeout(connection, BUSY_TIMEOUT_MS)
        try:
            with connection.begin():
                store_events(connection, events)
        except Exception as error:
            self.stats.failed_commits += 1
            log.warning("commit of %d events failed (%s); one by one", len(events), error)
            return self._write_singly(connection, events)
        self._count(len(events))
        return {}

    def _write_singly(self, connection: Connection, events: list[StatusEvent]):
        failures: dict[int, BaseException] = {}
        for index, event in enumerate(events):
            try:
                with connection.begin():
                    store_events(connection, [event])
            except Exception as error:
                self.stats.failed_commits += 1
                log.error("event %s not stored: %s", event.event_key, error)
                failures[index] = error
            else:
                self._count(1)
        return failures

    def _count(self, events: int) -> None:
        self.stats.commits += 1
        self.stats.events += events
        self.stats.largest_batch = max(self.stats.largest_batch, events)


def _driver(connection: Connection) -> Any:
    """The DB-API connection under SQLAlchemy's; there is one while the writer's is open."""
    driver = connection.connection.driver_connection
    assert driver is not None, "the writer's connection is closed"
    return driver
