"""The fleet's engines run without Pulumi's automatic debug log (fleet/environment.py says
why), unless asked; a `logs` directory someone already has is never touched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fleet.command import pulumi_path
from fleet.environment import ENGINE_LOGS_VARIABLE, fleet_environment

pytestmark = pytest.mark.e2e


def run_pulumi(environment_vars: dict[str, str], cwd: Path) -> None:
    """A quick CLI command: every command opens the automatic log before it runs."""
    subprocess.run(
        [pulumi_path(), "--non-interactive", "stack", "ls", "--all"],
        cwd=cwd,
        env={**os.environ, **environment_vars},
        capture_output=True,
        check=True,
        timeout=120,
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    monkeypatch.delenv(ENGINE_LOGS_VARIABLE, raising=False)
    return tmp_path / "pulumi-home"


def test_the_engines_write_no_debug_log(tmp_path: Path, home: Path) -> None:
    environment = fleet_environment(tmp_path, parent_in_flight=None)

    run_pulumi(environment.for_groups(1), tmp_path)

    logs = home / "logs"
    assert logs.is_file(), "the fleet's home holds the file that keeps the log off"
    assert "TLZ_FLEET_ENGINE_LOGS=on" in logs.read_text()
    assert environment.notes == ()


def test_asked_for_the_logs_come_back(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet_environment(tmp_path, parent_in_flight=None)  # an earlier run turned them off
    monkeypatch.setenv(ENGINE_LOGS_VARIABLE, "on")
    environment = fleet_environment(tmp_path, parent_in_flight=None)

    run_pulumi(environment.for_groups(1), tmp_path)

    written = list((home / "logs").glob("pulumi-*.log"))
    assert written, "the CLI wrote its automatic log again"


def test_an_existing_logs_directory_is_left_alone_and_said(tmp_path: Path, home: Path) -> None:
    kept = home / "logs" / "pulumi-earlier.log"
    kept.parent.mkdir(parents=True)
    kept.write_text("an earlier run's log")

    environment = fleet_environment(tmp_path, parent_in_flight=None)

    assert kept.read_text() == "an earlier run's log"
    assert len(environment.notes) == 1
    assert str(home / "logs") in environment.notes[0]
    assert "is a directory" in environment.notes[0]
