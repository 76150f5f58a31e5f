"""Fixtures of the collector suite: SQLite and a real PostgreSQL server (started by
scripts/start-postgres), each test with a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support import postgres as support_postgres

ROOT = Path(__file__).resolve().parents[2]


# The real server (scripts/start-postgres, shared with the team-state tests): started if needed,
# stopped at the end of the session that started it; a failure to start fails the tests.
postgres_server = support_postgres.postgres_server


def _admin(url: str) -> psycopg.Connection:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname="postgres", autocommit=True
    )


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    name = f"collector_test_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    with _admin(postgres_server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'collector.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each storage test runs on both backends."""
    return request.getfixturevalue(f"{request.param}_url")
