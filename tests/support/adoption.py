"""Bring an existing account under a stack in tests: discover it into a project copy, edit the
stack file, and count what the emulator saw change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.estate.support import CREDENTIAL_VARIABLES
from tests.support.emulator_process import REPO_ROOT, EmulatorProcess
from tests.support.pulumi_cli import PulumiWorkspace, copy_program

ARCHITECTURE = "twilio-landing-zone:architecture"


def delta(before: dict, after: dict) -> dict[str, int]:
    routes = {
        route: after["routes"].get(route, 0) - before["routes"].get(route, 0)
        for route in after["routes"]
    }
    return {route: count for route, count in routes.items() if count}


def discover(emulator: EmulatorProcess, folder: Path, stack: str) -> Path:
    environ = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    environ["TWILIO_EMULATOR_URL"] = emulator.url
    done = subprocess.run(
        [sys.executable, "-m", "estate", "discover", "--stack", stack, "--dir", str(folder)],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return folder / f"Pulumi.{stack}.yaml"


def workspace(tmp_path: Path, emulator: EmulatorProcess) -> PulumiWorkspace:
    project = copy_program(tmp_path / "project", stack_files=False)
    return PulumiWorkspace(
        project,
        tmp_path / "state",
        extra_env={"TWILIO_EMULATOR_URL": emulator.url, "PULUMI_SKIP_CHECKPOINTS": "true"},
    )


def edit(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document["config"][ARCHITECTURE])
    path.write_text(yaml.safe_dump(document, sort_keys=False))
