"""The group-commit writer: durable, exactly-once event writes, fast (the statements are in
`collector.storage.writes`).

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from collector.events import StatusEvent

# The statements live in `writes`; `store_events` and `day_of` are imported from here too.
from collector.storage.writes import day_of, prepare_writes, store_events

__all__ = [
    "GroupCommitWriter",
    "WriterStats",
    "WriterStopped",
    "day_of",
    "prepare_writes",
    "store_events",
]

log = logging.getLogger(__name__)


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
        if self._pending:
            # The next batch is handed over before this one is answered (callbacks run in the
            # order they were scheduled): the writer commits it while the loop sends these
            # answers, instead of idling until the last of them is written.
            self._schedule()
        for index, (_, future) in enumerate(batch):
            if future.done():
                continue  # the request went away; its event is stored anyway
            failure = failures.get(index)
            if failure is None:
                future.set_result(None)
            else:
                future.set_exception(WriterStopped(f"event not stored: {failure}"))

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
