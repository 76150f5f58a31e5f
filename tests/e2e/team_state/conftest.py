"""Team state: Pulumi's DIY backend in a real PostgreSQL server (tests/support/postgres.py,
the same server the collector tests use), each test with a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres as support_postgres
from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.postgres import fresh_database, pulumi_backend_url
from tests.support.pulumi_cli import PulumiWorkspace
from tests.support.team_state import make_workspace

postgres_server = support_postgres.postgres_server


@pytest.fixture
def state_database(postgres_server: str) -> Iterator[str]:
    """SQLAlchemy URL of an empty database for Pulumi's state."""
    with fresh_database(postgres_server, "pulumi_state_test") as url:
        yield url


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    # 50 ms per request: a dev `up` lasts long enough to be overlapped or killed mid-way.
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "50"]) as emu:
        yield emu


@pytest.fixture
def team_dev(tmp_path: Path, emulator: EmulatorProcess, state_database: str) -> PulumiWorkspace:
    """The shipped dev stack with its state in PostgreSQL."""
    workspace = make_workspace(tmp_path, "dev", emulator, pulumi_backend_url(state_database))
    workspace.init_stack("dev")
    return workspace
