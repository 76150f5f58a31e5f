"""Schema migrations with Alembic: the revisions live in `revisions/versions/`, one file a step.

`migrate()` brings a database up to a version and `downgrade()` takes it back down, on SQLite
and PostgreSQL. Every step of one call runs in one transaction under a lock (PostgreSQL: an
advisory lock; SQLite: the write lock, taken by BEGIN IMMEDIATE before anything is read), so
two collectors starting together migrate once, and a failed step leaves the previous version.

Alembic's `alembic_version` table holds the current revision. `schema_migrations` keeps the
readable history (version, description, when), as the hand-written runner that came before
Alembic wrote it: a database that runner created (no `alembic_version`, versions 1 to N in
`schema_migrations`) is stamped at its recorded version and upgraded from there. Revision ids
are 4-digit numbers ("0003"), each file named after its revision, so the history and the
command line speak of plain versions.

Alembic (with its dialect modules) is imported only when there is something to do: a database
already at the newest revision, what every start but the first finds, is checked with one
query, so restarts and the report commands start as fast as before Alembic.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import OperationalError

from collector.storage.database import create_database_engine
from collector.storage.schema import schema_migrations

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext, MigrationInfo
    from alembic.script import ScriptDirectory

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


_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


def head_by_file_name() -> str:
    """The newest revision id, from the file names alone (a test holds it equal to Alembic's
    head): enough to see that a database is up to date without importing Alembic."""
    ids = [
        match.group(1)
        for path in (REVISIONS_DIR / "versions").iterdir()
        if (match := _REVISION_FILE.match(path.name))
    ]
    return max(ids)


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(REVISIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["steps"] = []
    return config


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Every step, oldest first, as Alembic reads them (imports Alembic)."""
    # walk_revisions goes from the head down; the history reads from the base up.
    scripts = reversed(list(_script().walk_revisions()))
    return tuple(Migration(int(s.revision), s.doc, s.revision) for s in scripts)


LATEST_VERSION = int(head_by_file_name())


def __getattr__(name: str) -> Any:
    # `MIGRATIONS` reads the revision files through Alembic: only for whoever asks for it.
    if name == "MIGRATIONS":
        return migrations()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def record_step(
    ctx: MigrationContext,
    step: MigrationInfo,
    heads: Collection[Any],
    run_args: Mapping[str, Any],
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
                description=step.up_revision.doc if step.up_revision is not None else "",  # type: ignore[attr-defined]  # Alembic sets `doc` on every script revision; its stub omits it
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
    # One linear history: one row at most (Alembic's own reader would import Alembic).
    return connection.execute(text(f"SELECT version_num FROM {_ALEMBIC_VERSION_TABLE}")).scalar()


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
    if not 0 <= target <= LATEST_VERSION:
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
        if (
            direction == "upgrade"
            and target == LATEST_VERSION
            and _alembic_revision(connection) == revision_id(LATEST_VERSION)
            and _recorded_version(connection) <= LATEST_VERSION
        ):
            return []  # up to date: the usual start, without importing Alembic
        # Alembic names each of its plugins at INFO when it is imported: not news for our logs
        # (its "Running upgrade 0002 -> 0003, ..." lines are, and stay).
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        _refuse_newer(connection)
        from alembic import command

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
    from alembic.util.exc import CommandError

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
