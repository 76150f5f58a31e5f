"""Schema migrations with Alembic: the revisions live in `revisions/versions/`, one file a step.

`migrate()` brings a database up to a version and `downgrade()` takes it back down, on SQLite
and PostgreSQL. Every step of one call runs in one transaction under a lock (PostgreSQL: an
advisory lock; SQLite: the write lock, taken by BEGIN IMMEDIATE before anything is read), so
two collectors starting together migrate once, and a failed step leaves the previous version.

Alembic's `alembic_version` table holds the current revision. `schema_migrations` keeps the
readable history (version, description, when), as the hand-written runner that came before
Alembic wrote it: a database that runner created (no `alembic_version`, versions 1 to N in
`schema_migrations`) is stamped at its recorded version and upgraded from there. Revision ids
are 4-digit numbers ("0003") so the history and the command line speak of plain versions.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import OperationalError

from collector.storage.database import create_database_engine
from collector.storage.schema import schema_migrations

REVISIONS_DIR = Path(__file__).with_name("revisions")
# Any constant both processes agree on; it names the collector's migration lock.
_POSTGRES_LOCK_KEY = 0x7C011EC7
_ALEMBIC_VERSION_TABLE = "alembic_version"


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer collector than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    revision: str  # Alembic's revision id


def revision_id(version: int) -> str:
    return f"{version:04d}"


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(REVISIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["steps"] = []
    return config


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def _load_migrations() -> tuple[Migration, ...]:
    # walk_revisions goes from the head down; the history reads from the base up.
    scripts = reversed(list(_script().walk_revisions()))
    return tuple(Migration(int(s.revision), s.doc, s.revision) for s in scripts)


MIGRATIONS: tuple[Migration, ...] = _load_migrations()
LATEST_VERSION = MIGRATIONS[-1].version


def record_step(
    *, ctx: MigrationContext, step: MigrationInfo, heads: set[str], run_args: dict[str, Any]
) -> None:
    """Alembic's `on_version_apply` hook (see `revisions/env.py`): keep `schema_migrations`
    in step with what was applied or reverted, in the same transaction."""
    if step.is_stamp or step.up_revision_id is None:
        return
    version = int(step.up_revision_id)
    connection = ctx.connection
    assert connection is not None
    if step.is_upgrade:
        connection.execute(
            schema_migrations.insert().values(
                version=version,
                description=step.up_revision.doc,
                applied_at_us=time.time_ns() // 1000,
            )
        )
    else:
        connection.execute(schema_migrations.delete().where(schema_migrations.c.version == version))
    config = ctx.config
    assert config is not None
    config.attributes["steps"].append(version)


def current_version(connection: Connection) -> int:
    """The schema version: Alembic's revision, or for a database the hand-written runner
    left, the last version it recorded (0: an empty database)."""
    revision = _alembic_revision(connection)
    if revision is not None:
        return int(revision)
    return _recorded_version(connection)


def _alembic_revision(connection: Connection) -> str | None:
    if not connection.dialect.has_table(connection, _ALEMBIC_VERSION_TABLE):
        return None
    heads = MigrationContext.configure(connection).get_current_heads()
    return heads[0] if heads else None


def _recorded_version(connection: Connection) -> int:
    if not connection.dialect.has_table(connection, schema_migrations.name):
        return 0
    latest = connection.execute(
        select(schema_migrations.c.version).order_by(schema_migrations.c.version.desc()).limit(1)
    ).scalar()
    return latest or 0


def migrate(database: Engine | str, *, target: int = LATEST_VERSION) -> list[int]:
    """Bring the schema up to `target`; returns the versions applied (empty when up to date)."""
    return _run(database, "upgrade", target)


def downgrade(database: Engine | str, *, target: int) -> list[int]:
    """Take the schema back down to `target` (0: nothing of ours but the history tables);
    returns the versions reverted, newest first. Tables that a step created are dropped with
    their rows."""
    return _run(database, "downgrade", target)


_SQLITE_LOCKED_ATTEMPTS = 100


def _run(database: Engine | str, direction: str, target: int) -> list[int]:
    if target != 0 and target not in {m.version for m in MIGRATIONS}:
        raise ValueError(f"no schema version {target}: this collector knows 1 to {LATEST_VERSION}")
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
                return _run_locked(engine, direction, target)
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


def _run_locked(engine: Engine, direction: str, target: int) -> list[int]:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_POSTGRES_LOCK_KEY})")
        schema_migrations.create(connection, checkfirst=True)
        _refuse_newer(connection)
        config = _alembic_config(connection)
        if _alembic_revision(connection) is None:
            recorded = _recorded_version(connection)
            if recorded:
                # Left by the hand-written runner: its steps are revisions 1..N, same DDL.
                command.stamp(config, revision_id(recorded))
        if direction == "upgrade":
            if current_version(connection) < target:
                command.upgrade(config, revision_id(target))
        elif current_version(connection) > target:
            command.downgrade(config, revision_id(target) if target else "base")
        return list(config.attributes["steps"])


def _refuse_newer(connection: Connection) -> None:
    try:
        revision = _alembic_revision(connection)
        if revision is not None:
            _script().get_revision(revision)
    except CommandError:
        raise SchemaTooNew(_too_new(revision)) from None
    recorded = _recorded_version(connection)
    if recorded > LATEST_VERSION:
        raise SchemaTooNew(_too_new(str(recorded)))


def _too_new(version: str | None) -> str:
    return (
        f"database schema is version {version}; this collector knows up to "
        f"{LATEST_VERSION}: upgrade the collector"
    )
