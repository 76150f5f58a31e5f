"""The fleet opens a PostgreSQL backend once before its groups open it side by side."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from fleet.command import pulumi_path
from fleet.environment import fleet_environment, open_backend_once
from tests.support import postgres as support_postgres
from tests.support.postgres import fresh_database, pulumi_backend_url, pulumi_state_rows

pytestmark = pytest.mark.e2e
postgres_server = support_postgres.postgres_server


def test_an_empty_postgres_backend_has_its_table_before_any_group_starts(
    tmp_path: Path, postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_database(postgres_server, "fleet_open") as database:
        with pytest.raises(psycopg.errors.UndefinedTable):
            pulumi_state_rows(database)
        monkeypatch.setenv("PULUMI_BACKEND_URL", pulumi_backend_url(database))
        monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
        environment = fleet_environment(tmp_path, parent_in_flight=None)

        open_backend_once(pulumi_path(), environment)

        # The table exists, with the backend's own metadata and no stack.
        rows = pulumi_state_rows(database)
        assert [key.rsplit("/", 1)[-1] for key in rows] == ["meta.yaml"]


def test_a_file_backend_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = tmp_path / "backend"
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{backend}")
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    environment = fleet_environment(tmp_path, parent_in_flight=None)

    open_backend_once("/nonexistent/pulumi", environment)  # never called for a file backend

    assert list(backend.iterdir()) == []
