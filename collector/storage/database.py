"""Engines for the collector's database: SQLite by default (WAL, fsync per commit), PostgreSQL
by URL."""

from __future__ import annotations

import os
from typing import Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite:///.state/collector.db"
DATABASE_URL_ENV = "COLLECTOR_DATABASE_URL"

SqliteBegin = Literal["DEFERRED", "IMMEDIATE"]


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (SQLAlchemy's default driver is not installed)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def describe_url(url: str) -> str:
    """The URL for logs: never with its password."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


# 8,192 pages of 4 KiB: the WAL file grows to about 32 MiB before a checkpoint.
WAL_CHECKPOINT_PAGES = 8192
# Prepared statements the sqlite3 module keeps per connection (its default: 128): the writer's
# multi-row INSERTs alone use 134 texts (`collector.storage.writes`), and re-preparing one costs
# more than running it.
SQLITE_CACHED_STATEMENTS = 256


def create_database_engine(url: str, *, sqlite_begin: SqliteBegin = "DEFERRED") -> Engine:
    """An engine for `url`.

    SQLite: WAL so readers (reports, the dashboard) never block the writer, `synchronous=FULL`
    so a commit survives power loss, not just a process crash: the 2xx answer promises that.
    `sqlite_begin="IMMEDIATE"` takes the write lock when a transaction starts, for writers, so
    two writers queue on the busy timeout instead of failing on a lock upgrade.
    """
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    if parsed.database and parsed.database != ":memory:":
        directory = os.path.dirname(os.path.abspath(parsed.database))
        os.makedirs(directory, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "cached_statements": SQLITE_CACHED_STATEMENTS},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoint the WAL back into the database every WAL_CHECKPOINT_PAGES instead of
        # SQLite's 1,000: the checkpoint runs inside a commit, and callbacks land on random
        # index pages, so a rare large checkpoint writes each page once where frequent small
        # ones rewrite it again and again (commit cost per event -40%, see collector/README).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql(f"BEGIN {sqlite_begin}")

    return engine
