"""What the team-state tests share: workspaces whose state is in PostgreSQL (or a private
file backend), `pulumi up` in the background, the stack's locks as each backend stores them,
and `scripts/resume-stack` run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.emulator_process import EmulatorProcess
from tests.support.postgres import pulumi_state_rows
from tests.support.pulumi_cli import REPO_ROOT, PulumiWorkspace, copy_program, pulumi_executable

PROJECT = "twilio-landing-zone"
RESUME_STACK = REPO_ROOT / "scripts" / "resume-stack"


def make_workspace(
    tmp_path: Path,
    name: str,
    emulator: EmulatorProcess,
    backend_url: str | None,
    extra_env: dict[str, str] | None = None,
) -> PulumiWorkspace:
    """A private copy of the program; state in `backend_url` (None: a private file backend)."""
    scratch = tmp_path / name / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    env = {"TWILIO_EMULATOR_URL": emulator.url, "TMPDIR": str(scratch), **(extra_env or {})}
    if backend_url is not None:
        env["PULUMI_BACKEND_URL"] = backend_url
    return PulumiWorkspace(
        project_dir=copy_program(tmp_path / name / "project"),
        state_dir=tmp_path / name / "state",
        extra_env=env,
    )


def start_in_background(
    workspace: PulumiWorkspace, label: str, command: list[str]
) -> subprocess.Popen[str]:
    """`command` from the project, in its own process group; its output in a log in the
    workspace's state directory (where the secrets search looks), the returned process's
    `log_path` attribute."""
    log_path = workspace.state_dir / f"{label}-{time.monotonic_ns()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=workspace.project_dir,
            env=workspace.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    process.log_path = log_path  # type: ignore[attr-defined]
    return process


def start_up(workspace: PulumiWorkspace, *args: str) -> subprocess.Popen[str]:
    """`pulumi up` in the background (see start_in_background)."""
    return start_in_background(
        workspace,
        "up",
        [pulumi_executable(), "up", "--yes", "--skip-preview", *args, "--non-interactive"],
    )


def up_output(process: subprocess.Popen[str]) -> str:
    return process.log_path.read_text()  # type: ignore[attr-defined]


def wait_until(
    condition: Callable[[], object], what: str, process: subprocess.Popen[str] | None = None
) -> object:
    """Poll `condition` until it returns something truthy (90 s at most)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"pulumi ended (exit {process.returncode}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def postgres_locks(database_url: str, stack: str = "dev") -> dict[str, dict]:
    # Keys start with the database name: Pulumi prefixes them with the URL's path.
    part = f"/.pulumi/locks/organization/{PROJECT}/{stack}/"
    rows = pulumi_state_rows(database_url)
    return {key: json.loads(blob) for key, blob in rows.items() if part in key}


def file_locks(workspace: PulumiWorkspace, stack: str = "dev") -> dict[str, dict]:
    directory = workspace.state_dir / "backend" / ".pulumi" / "locks" / "organization"
    directory = directory / PROJECT / stack
    if not directory.is_dir():
        return {}
    return {str(path): json.loads(path.read_text()) for path in directory.glob("*.json")}


def resume_stack(
    workspace: PulumiWorkspace, stack: str = "dev", *up_args: str
) -> subprocess.CompletedProcess:
    """`scripts/resume-stack STACK [-- UP_ARGS]` as a user runs it: from the project, same
    environment."""
    return subprocess.run(
        [str(RESUME_STACK), stack, *(["--", *up_args] if up_args else [])],
        cwd=workspace.project_dir,
        env=workspace.env(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def start_resume_stack(
    workspace: PulumiWorkspace, stack: str = "dev", *up_args: str
) -> subprocess.Popen[str]:
    """`scripts/resume-stack` in the background (see start_in_background)."""
    return start_in_background(
        workspace, "resume", [str(RESUME_STACK), stack, *(["--", *up_args] if up_args else [])]
    )
