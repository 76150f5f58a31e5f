"""Versioned schema migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect, select, text

from collector.storage.database import create_database_engine
from collector.storage.migrations import LATEST_VERSION, MIGRATIONS, SchemaTooNew, migrate
from collector.storage.schema import metadata, schema_migrations
from collector.storage.writer import store_events
from tests.collector.support import SUB_SID, event, message_sid


def test_a_fresh_database_is_migrated_step_by_step_and_only_once(database_url: str):
    assert migrate(database_url) == [m.version for m in MIGRATIONS]
    assert migrate(database_url) == []
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        recorded = connection.execute(
            select(schema_migrations.c.version, schema_migrations.c.description)
        ).all()
    engine.dispose()
    assert recorded == [(m.version, m.description) for m in MIGRATIONS]


def test_the_migrated_schema_is_the_one_queries_are_written_against(database_url: str):
    migrate(database_url)
    engine = create_database_engine(database_url)
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(columns) == set(table.columns.keys()), table.name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (table.name, column.name)
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        assert {i.name for i in table.indexes} <= indexes, table.name
    engine.dispose()


def test_an_upgrade_keeps_the_data_stored_by_the_previous_version(database_url: str):
    assert migrate(database_url, target=1) == [1]
    engine = create_database_engine(database_url)
    stored = event(SUB_SID, message_sid(), "delivered", 1000.0)
    with engine.begin() as connection:
        store_events(connection, [stored])
    assert migrate(database_url) == list(range(2, LATEST_VERSION + 1))
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT event_key FROM status_events")).scalars().all()
    engine.dispose()
    assert keys == [stored.event_key]


def test_a_database_from_a_newer_collector_is_refused(database_url: str):
    migrate(database_url)
    engine = create_database_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            schema_migrations.insert().values(version=99, description="future", applied_at_us=0)
        )
    engine.dispose()
    with pytest.raises(SchemaTooNew, match="version 99"):
        migrate(database_url)


def test_collectors_starting_together_migrate_once(database_url: str):
    results: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        try:
            results.append(migrate(database_url))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(results, key=len) == [[], [], [], [m.version for m in MIGRATIONS]]
