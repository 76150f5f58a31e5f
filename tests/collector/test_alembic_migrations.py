"""The Alembic migrations, on SQLite and PostgreSQL: every step down and up again, data kept
where a step leaves its table alone, and the upgrade of a database the hand-written runner of
the current release created."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text

from collector.storage.database import create_database_engine
from collector.storage.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    SchemaTooNew,
    current_version,
    downgrade,
    migrate,
)
from collector.storage.schema import account_names, schema_migrations
from collector.storage.writer import store_events
from tests.collector.release_schema import create_release_schema
from tests.collector.support import (
    SUB_SID,
    collector_cli,
    collector_environment,
    event,
    message_sid,
)

ROOT = Path(__file__).resolve().parents[2]
HISTORY_TABLES = {"schema_migrations", "alembic_version"}
# The tables each version adds (cumulative below).
TABLES_OF = {1: {"status_events", "messages"}, 2: set(), 3: {"account_names"}}
INDEXES_OF = {2: {"messages_by_account_day", "messages_by_day"}}


def _tables_at(version: int) -> set[str]:
    return set().union(*(TABLES_OF[v] for v in range(1, version + 1)))


def _indexes_at(version: int) -> set[str]:
    return set().union(*(INDEXES_OF.get(v, set()) for v in range(1, version + 1)))


def _shape(engine: Engine) -> dict[str, Any]:
    """Everything the schema is made of, comparable across databases of one dialect."""
    inspector = inspect(engine)
    shape: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - HISTORY_TABLES):
        shape[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
    return shape


def _state(url: str) -> tuple[int, set[str], set[str], list[int]]:
    engine = create_database_engine(url)
    try:
        inspector = inspect(engine)
        tables = set(inspector.get_table_names()) - HISTORY_TABLES
        indexes = (
            {i["name"] for i in inspector.get_indexes("messages")}
            if "messages" in tables
            else set()
        )
        with engine.connect() as connection:
            version = current_version(connection)
            history = (
                list(
                    connection.execute(
                        select(schema_migrations.c.version).order_by(schema_migrations.c.version)
                    ).scalars()
                )
                if inspector.has_table(schema_migrations.name)
                else []
            )
        return version, tables, indexes, history
    finally:
        engine.dispose()


def _store_one(url: str) -> str:
    stored = event(SUB_SID, message_sid(), "delivered", 1000.0)
    engine = create_database_engine(url)
    with engine.begin() as connection:
        store_events(connection, [stored])
    engine.dispose()
    return stored.event_key


def _event_keys(url: str) -> list[str]:
    engine = create_database_engine(url)
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT event_key FROM status_events")).scalars().all()
    engine.dispose()
    return list(keys)


def test_every_step_goes_down_and_up_again(database_url: str):
    assert migrate(database_url) == [m.version for m in MIGRATIONS]
    for version in range(LATEST_VERSION - 1, -1, -1):
        assert downgrade(database_url, target=version) == [version + 1]
        assert _state(database_url) == (
            version,
            _tables_at(version),
            _indexes_at(version),
            list(range(1, version + 1)),
        )
    assert downgrade(database_url, target=0) == []  # nothing left to take down
    for version in range(1, LATEST_VERSION + 1):
        assert migrate(database_url, target=version) == [version]
        assert _state(database_url) == (
            version,
            _tables_at(version),
            _indexes_at(version),
            list(range(1, version + 1)),
        )


def test_a_downgrade_keeps_the_rows_of_tables_it_leaves_alone(database_url: str):
    migrate(database_url)
    key = _store_one(database_url)
    assert downgrade(database_url, target=1) == [3, 2]
    assert _event_keys(database_url) == [key]
    assert migrate(database_url) == [2, 3]
    assert _event_keys(database_url) == [key]
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(select(account_names)).all() == []
    engine.dispose()


def test_alembic_builds_the_same_schema_as_the_release_runner(database_url: str):
    migrate(database_url)
    built = create_database_engine(database_url)
    alembic_shape = _shape(built)
    with built.begin() as connection:  # the same database, emptied and rebuilt the old way
        for table in ("account_names", "messages", "status_events", *HISTORY_TABLES):
            connection.exec_driver_sql(f"DROP TABLE {table}")
    built.dispose()
    create_release_schema(database_url)
    release = create_database_engine(database_url)
    assert _shape(release) == alembic_shape
    release.dispose()


@pytest.mark.parametrize("release_version", [1, 2, 3])
def test_a_database_of_the_current_release_is_adopted_and_upgraded(
    database_url: str, release_version: int
):
    create_release_schema(database_url, release_version)
    key = _store_one(database_url)
    applied = migrate(database_url)
    assert applied == list(range(release_version + 1, LATEST_VERSION + 1))
    assert _state(database_url) == (
        LATEST_VERSION,
        _tables_at(LATEST_VERSION),
        _indexes_at(LATEST_VERSION),
        list(range(1, LATEST_VERSION + 1)),
    )
    assert _event_keys(database_url) == [key]
    assert migrate(database_url) == []
    # And it goes down like any other.
    assert downgrade(database_url, target=1) == list(range(LATEST_VERSION, 1, -1))
    assert _event_keys(database_url) == [key]


def test_a_revision_this_collector_does_not_know_is_refused(database_url: str):
    migrate(database_url)
    engine = create_database_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    engine.dispose()
    with pytest.raises(SchemaTooNew, match="version 0099"):
        migrate(database_url)
    with pytest.raises(SchemaTooNew, match="version 0099"):
        downgrade(database_url, target=1)


def test_an_unknown_target_is_refused_before_anything_runs(sqlite_url: str):
    with pytest.raises(
        ValueError, match=f"no schema version 7: this collector knows 1 to {LATEST_VERSION}"
    ):
        migrate(sqlite_url, target=7)
    assert _state(sqlite_url) == (0, set(), set(), [])


def test_the_command_line_goes_down_and_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    env = collector_environment("http://127.0.0.1:9")  # no Twilio needed
    up = collector_cli(["migrate", "--db", url], env)
    assert up.returncode == 0, up.stderr
    down = collector_cli(["migrate", "--db", url, "--to", "1"], env)
    assert down.returncode == 0, down.stderr
    assert "migrations reverted: 3, 2" in down.stdout
    assert _state(url)[0] == 1
    again = collector_cli(["migrate", "--db", url, "--to", str(LATEST_VERSION)], env)
    assert "migrations applied: 2, 3" in again.stdout
    wrong = collector_cli(["migrate", "--db", url, "--to", "42"], env)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == f"--to: no schema version 42 (0 to {LATEST_VERSION})"


def test_revision_files_are_named_after_their_revision():
    from alembic.script import ScriptDirectory

    from collector.storage.migrations import REVISIONS_DIR, head_by_file_name

    script = ScriptDirectory(str(REVISIONS_DIR))
    assert script.get_heads() == [head_by_file_name()]
    for revision in script.walk_revisions():
        assert Path(revision.path).name.startswith(revision.revision + "_"), revision.path


def test_an_up_to_date_database_is_checked_without_importing_alembic(sqlite_url: str):
    migrate(sqlite_url)
    probe = (
        "import sys; from collector.storage.migrations import migrate; "
        f"assert migrate({sqlite_url!r}) == []; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
