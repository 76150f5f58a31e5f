"""Fixtures of the collector suite: SQLite and a real PostgreSQL server (started by
scripts/start-postgres), each test with a database of its own."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of the test PostgreSQL server; a failure to start it fails the tests that need it."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "start-postgres")], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/start-postgres failed:\n{result.stderr}", pytrace=False)
    return result.stdout.strip().splitlines()[-1]


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
