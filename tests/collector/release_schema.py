"""What the collector's hand-written migration runner (before Alembic) created: its three steps
and its history rows, kept here verbatim so the upgrade from a database in the field is tested
against exactly that schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from collector.storage.database import create_database_engine

DESCRIPTIONS = {
    1: "status event archive and per-message status",
    2: "indexes for report filters (account, day)",
    3: "FriendlyNames of the estate's accounts",
}


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


_STEPS = {1: _v1_tables, 2: _v2_report_indexes, 3: _v3_account_names}

# The runner's history table, as it created it.
_history = MetaData()
release_schema_migrations = Table(
    "schema_migrations",
    _history,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at_us", BigInteger, nullable=False),
)


def create_release_schema(url: str, version: int = 3) -> None:
    """The database the release's `migrate(url, target=version)` left."""
    engine = create_database_engine(url, sqlite_begin="IMMEDIATE")
    try:
        with engine.begin() as connection:
            release_schema_migrations.create(connection, checkfirst=True)
            for step in range(1, version + 1):
                _STEPS[step](connection)
                connection.execute(
                    release_schema_migrations.insert().values(
                        version=step,
                        description=DESCRIPTIONS[step],
                        applied_at_us=time.time_ns() // 1000,
                    )
                )
    finally:
        engine.dispose()
