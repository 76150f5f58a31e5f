"""Versioned schema migrations, applied in order, each recorded in `schema_migrations`.

Each migration spells out its own DDL (a snapshot, not the live `schema` module), so replaying
the history on an empty database always builds what older collectors built. All pending steps
run in one transaction under a lock (PostgreSQL: an advisory lock; SQLite: the write lock), so
two collectors starting together migrate once, and a failed step leaves the previous version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.exc import OperationalError

from collector.storage.database import create_database_engine
from collector.storage.schema import schema_migrations

# Any constant both processes agree on; it names the collector's migration lock.
_POSTGRES_LOCK_KEY = 0x7C011EC7


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer collector than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    upgrade: Callable[[Connection], None]


def _v1_tables(connection: Connection) -> None:
    snapshot = MetaData()
    event_id = BigInteger().with_variant(Integer(), "sqlite")
    Table(
        "status_events",
        snapshot,
        Column("id", event_id, primary_key=True, autoincrement=True),
        Column("event_key", String(64), nullable=False, unique=True),
        Column("received_at_us", BigInteger, nullable=False),
        Column("account_sid", String(34), nullable=False),
        Column("message_sid", String(34), nullable=False),
        Column("status", String(64), nullable=False),
        Column("error_code", Text),
        Column("messaging_service_sid", Text),
        Column("sender", Text),
        Column("idempotency_token", Text),
        Column("body", Text, nullable=False),
    )
    Table(
        "messages",
        snapshot,
        Column("message_sid", String(34), primary_key=True),
        Column("account_sid", String(34), nullable=False),
        Column("messaging_service_sid", Text),
        Column("sender", Text),
        Column("status", String(64), nullable=False),
        Column("status_rank", Integer, nullable=False),
        Column("error_code", Text),
        Column("first_seen_us", BigInteger, nullable=False),
        Column("last_event_us", BigInteger, nullable=False),
        Column("delivered_us", BigInteger),
        Column("day", String(10), nullable=False),
    )
    snapshot.create_all(connection)


def _v2_report_indexes(connection: Connection) -> None:
    snapshot = MetaData()
    messages = Table(
        "messages",
        snapshot,
        Column("account_sid", String(34)),
        Column("day", String(10)),
    )
    Index("messages_by_account_day", messages.c.account_sid, messages.c.day).create(connection)
    Index("messages_by_day", messages.c.day).create(connection)


def _v3_account_names(connection: Connection) -> None:
    snapshot = MetaData()
    Table(
        "account_names",
        snapshot,
        Column("account_sid", String(34), primary_key=True),
        Column("friendly_name", Text, nullable=False),
        Column("updated_at_us", BigInteger, nullable=False),
    )
    snapshot.create_all(connection)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "status event archive and per-message status", _v1_tables),
    Migration(2, "indexes for report filters (account, day)", _v2_report_indexes),
    Migration(3, "FriendlyNames of the estate's accounts", _v3_account_names),
)
LATEST_VERSION = MIGRATIONS[-1].version


def current_version(connection: Connection) -> int:
    if not connection.dialect.has_table(connection, schema_migrations.name):
        return 0
    latest = connection.execute(
        select(schema_migrations.c.version).order_by(schema_migrations.c.version.desc()).limit(1)
    ).scalar()
    return latest or 0


def migrate(database: Engine | str, *, target: int = LATEST_VERSION) -> list[int]:
    """Bring the schema to `target`; returns the versions applied (empty when up to date)."""
    url = (
        database.url.render_as_string(hide_password=False)
        if isinstance(database, Engine)
        else database
    )
    # Its own engine: on SQLite, BEGIN IMMEDIATE takes the write lock before the version is
    # read, so a concurrent migrator waits instead of applying the same step twice.
    engine = create_database_engine(url, sqlite_begin="IMMEDIATE")
    try:
        for attempt in range(_SQLITE_LOCKED_ATTEMPTS):
            try:
                return _migrate(engine, target)
            except OperationalError as error:
                # A brand-new SQLite file: while one process turns it to WAL mode, SQLite
                # answers "locked" to the others without waiting (busy_timeout does not apply).
                locked = engine.dialect.name == "sqlite" and "locked" in str(error.orig)
                if not locked or attempt == _SQLITE_LOCKED_ATTEMPTS - 1:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")
    finally:
        engine.dispose()


_SQLITE_LOCKED_ATTEMPTS = 100


def _migrate(engine: Engine, target: int) -> list[int]:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_POSTGRES_LOCK_KEY})")
        schema_migrations.create(connection, checkfirst=True)
        version = current_version(connection)
        if version > LATEST_VERSION:
            raise SchemaTooNew(
                f"database schema is version {version}; this collector knows up to "
                f"{LATEST_VERSION}: upgrade the collector"
            )
        applied = []
        for migration in MIGRATIONS:
            if version < migration.version <= target:
                migration.upgrade(connection)
                connection.execute(
                    schema_migrations.insert().values(
                        version=migration.version,
                        description=migration.description,
                        applied_at_us=time.time_ns() // 1000,
                    )
                )
                applied.append(migration.version)
        return applied
