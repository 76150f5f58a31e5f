"""SQLite persistence for every emulated Twilio resource.

One connection, used only from the event loop thread: handlers are synchronous between awaits,
so each request's reads and writes run without interleaving, which makes check-then-write rules
(one service per sender, unique phone numbers) race-free without locks. WAL with
synchronous=NORMAL keeps each commit cheap (hundreds of creates per second) and durable across a
crash or kill of the process; only an OS crash or power loss could drop the last commits.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from emulator.wire import now

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    container_sid TEXT,
    unique_key TEXT,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_account ON resources (kind, account_sid, seq);
CREATE INDEX IF NOT EXISTS resources_by_container ON resources (kind, container_sid, seq);
CREATE UNIQUE INDEX IF NOT EXISTS resources_unique_key
    ON resources (kind, unique_key) WHERE unique_key IS NOT NULL;
-- Sticky sender looks up a service's last message to a recipient on every service send.
CREATE INDEX IF NOT EXISTS resources_by_recipient
    ON resources (kind, container_sid, json_extract(doc, '$.to'));

CREATE TABLE IF NOT EXISTS callback_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    url TEXT NOT NULL,
    params TEXT NOT NULL,
    idempotency_token TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS callback_events_by_message ON callback_events (message_sid, id);
CREATE INDEX IF NOT EXISTS callback_events_by_state ON callback_events (state, id);
"""


@dataclass
class Record:
    """One stored resource: indexed columns plus its fields (`doc`, snake_case like the wire)."""

    seq: int
    sid: str
    kind: str
    account_sid: str
    container_sid: str | None
    unique_key: str | None
    date_created: int
    date_updated: int
    doc: dict[str, Any]


@dataclass
class CallbackEvent:
    id: int
    message_sid: str
    account_sid: str
    url: str
    params: dict[str, str]
    idempotency_token: str
    state: str  # pending | delivered | failed | undeliverable
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: int
    updated_at: int


Where = Sequence[tuple[str, Sequence[Any]]]

_COLUMNS = "seq, sid, kind, account_sid, container_sid, unique_key, date_created, date_updated, doc"


def _record(row: tuple[Any, ...]) -> Record:
    seq, sid, kind, account_sid, container_sid, unique_key, created, updated, doc = row
    return Record(
        seq, sid, kind, account_sid, container_sid, unique_key, created, updated, json.loads(doc)
    )


class Store:
    def __init__(self, path: str) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._depth = 0

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes into one commit; nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    # --- resources ----------------------------------------------------------------------------

    def insert(
        self,
        kind: str,
        sid: str,
        account_sid: str,
        doc: dict[str, Any],
        *,
        container_sid: str | None = None,
        unique_key: str | None = None,
        at: int | None = None,
    ) -> Record:
        stamp = now() if at is None else at
        cursor = self._db.execute(
            "INSERT INTO resources (sid, kind, account_sid, container_sid, unique_key,"
            " date_created, date_updated, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, kind, account_sid, container_sid, unique_key, stamp, stamp, json.dumps(doc)),
        )
        seq = cursor.lastrowid
        assert seq is not None
        return Record(seq, sid, kind, account_sid, container_sid, unique_key, stamp, stamp, doc)

    def get(self, sid: str, kind: str) -> Record | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM resources WHERE sid = ? AND kind = ?", (sid, kind)
        ).fetchone()
        return _record(row) if row else None

    def by_unique_key(self, kind: str, unique_key: str) -> Record | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM resources WHERE kind = ? AND unique_key = ?",
            (kind, unique_key),
        ).fetchone()
        return _record(row) if row else None

    def save(self, record: Record, *, at: int | None = None) -> Record:
        record.date_updated = now() if at is None else at
        self._db.execute(
            "UPDATE resources SET account_sid = ?, container_sid = ?, unique_key = ?,"
            " date_updated = ?, doc = ? WHERE seq = ?",
            (
                record.account_sid,
                record.container_sid,
                record.unique_key,
                record.date_updated,
                json.dumps(record.doc),
                record.seq,
            ),
        )
        return record

    def delete(self, record: Record) -> None:
        self._db.execute("DELETE FROM resources WHERE seq = ?", (record.seq,))

    def _filter(
        self,
        kind: str,
        account_sids: Sequence[str] | None,
        container_sid: str | None,
        where: Where,
    ) -> tuple[str, list[Any]]:
        clauses = ["kind = ?"]
        args: list[Any] = [kind]
        if account_sids is not None:
            clauses.append(f"account_sid IN ({', '.join('?' * len(account_sids)) or 'NULL'})")
            args.extend(account_sids)
        if container_sid is not None:
            clauses.append("container_sid = ?")
            args.append(container_sid)
        for clause, clause_args in where:
            clauses.append(clause)
            args.extend(clause_args)
        return " AND ".join(clauses), args

    def select(
        self,
        kind: str,
        *,
        account_sids: Sequence[str] | None = None,
        container_sid: str | None = None,
        where: Where = (),
        newest_first: bool = False,
        after_seq: int | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Record]:
        """Records in creation order (or newest first); `after_seq` continues a keyset page."""
        condition, args = self._filter(kind, account_sids, container_sid, where)
        if after_seq is not None:
            condition += " AND seq < ?" if newest_first else " AND seq > ?"
            args.append(after_seq)
            offset = 0
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} FROM resources WHERE {condition} ORDER BY seq {order}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args.extend([limit, offset])
        return [_record(row) for row in self._db.execute(sql, args)]

    def count(
        self,
        kind: str,
        *,
        account_sids: Sequence[str] | None = None,
        container_sid: str | None = None,
        where: Where = (),
    ) -> int:
        condition, args = self._filter(kind, account_sids, container_sid, where)
        row = self._db.execute(f"SELECT COUNT(*) FROM resources WHERE {condition}", args).fetchone()
        return int(row[0])

    def aggregate(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        """A read-only aggregate query written by emulator code (usage records)."""
        return list(self._db.execute(sql, args))

    # --- status callback events ---------------------------------------------------------------

    def add_callback_event(
        self,
        message_sid: str,
        account_sid: str,
        url: str,
        params: dict[str, str],
        idempotency_token: str,
        state: str,
        last_error: str | None = None,
    ) -> CallbackEvent:
        stamp = now()
        cursor = self._db.execute(
            "INSERT INTO callback_events (message_sid, account_sid, url, params,"
            " idempotency_token, state, last_error, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_sid,
                account_sid,
                url,
                json.dumps(params),
                idempotency_token,
                state,
                last_error,
                stamp,
                stamp,
            ),
        )
        event_id = cursor.lastrowid
        assert event_id is not None
        return CallbackEvent(
            event_id,
            message_sid,
            account_sid,
            url,
            params,
            idempotency_token,
            state,
            0,
            None,
            last_error,
            stamp,
            stamp,
        )

    def update_callback_event(self, event: CallbackEvent) -> None:
        event.updated_at = now()
        self._db.execute(
            "UPDATE callback_events SET state = ?, attempts = ?, last_status = ?, last_error = ?,"
            " updated_at = ? WHERE id = ?",
            (
                event.state,
                event.attempts,
                event.last_status,
                event.last_error,
                event.updated_at,
                event.id,
            ),
        )

    def callback_events(
        self, *, message_sid: str | None = None, state: str | None = None, limit: int = 1000
    ) -> list[CallbackEvent]:
        clauses, args = ["1 = 1"], []
        if message_sid:
            clauses.append("message_sid = ?")
            args.append(message_sid)
        if state:
            clauses.append("state = ?")
            args.append(state)
        rows = self._db.execute(
            "SELECT id, message_sid, account_sid, url, params, idempotency_token, state, attempts,"
            f" last_status, last_error, created_at, updated_at FROM callback_events"
            f" WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
            [*args, limit],
        )
        return [
            CallbackEvent(
                row[0],
                row[1],
                row[2],
                row[3],
                json.loads(row[4]),
                *row[5:],
            )
            for row in rows
        ]
