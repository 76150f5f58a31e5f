"""The statements that store status events exactly once, prepared for the driver.

`prepare_writes` turns a batch of events into driver calls: the archive row of each event key
once (a replay or a retry is a no-op) and each message's status merged by rules that ignore
arrival order. `store_events` runs them in the caller's transaction; the group-commit writer
(`collector.storage.writer`) prepares on the event loop and runs them on its thread.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, and_, case, func, or_
from sqlalchemy.dialects import postgresql, sqlite

from collector.events import StatusEvent
from collector.statuses import DELIVERED_STATUSES
from collector.storage.schema import messages, status_events

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
_message_row = itemgetter(*MESSAGE_COLUMNS)  # a merged row (dict) as a tuple in column order


# Rows per multi-row INSERT on SQLite, largest first. A batch of up to 64 events (the usual
# size: at most one event per waiting connection) is one statement per table; a larger one is
# cut into 512, 256 and 128 rows and a rest. After each statement the writer thread needs the
# GIL back from a busy event loop (up to a switch interval each time), so fewer statements make
# shorter commits: with (512, 128, 32, 8, 1), a batch of 31 took 10 statements per table.
# Every text fits the driver's statement cache (`SQLITE_CACHED_STATEMENTS`).
_CHUNK_SIZES = (512, 256, 128, *range(64, 0, -1))


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
    # The statement text for each chunk size, built once (the loop prepares every batch).
    texts: dict[int, str] = field(default_factory=dict)

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
        group, tail = rest[:group_end], rest[group_end:]
        texts = {size: head + separator + ", ".join([group] * size) + tail for size in _CHUNK_SIZES}
        return cls(sql, columns, positional, head + separator, group, tail, texts)

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
                values = tuple(chain.from_iterable(rows[start : start + size]))
                calls.append((self.texts[size], values))
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
        upsert_messages.statements([_message_row(row) for row in merged.values()])
    )


def run_writes(connection: Connection, writes: Sequence[tuple[str, Any]]) -> None:
    """Run prepared writes in the caller's transaction."""
    for sql, parameters in writes:
        connection.exec_driver_sql(sql, parameters)


def store_events(connection: Connection, events: Sequence[StatusEvent]) -> None:
    """Write `events` in the caller's transaction (see `prepare_writes`)."""
    run_writes(connection, prepare_writes(connection.dialect, events))
