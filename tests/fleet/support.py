"""A project for fleet tests: a copy of the program, the pack and fleet.yaml in a git
repository of its own, and `python -m fleet` run in it as an operator runs it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.pulumi_cli import BIN_DIR, REPO_ROOT, VENV_DIR, copy_program


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, check=True, capture_output=True, text=True
    ).stdout


def fleet_project(directory: Path, *, max_per_group: int = 2, catalogs: bool = False) -> Path:
    """New groups list their customers inline, unless `catalogs` (the shipped fleet.yaml's
    `catalog_dir`)."""
    project = copy_program(directory, stack_files=False)
    shutil.copytree(
        REPO_ROOT / "policies",
        project / "policies",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    text = (REPO_ROOT / "fleet.yaml").read_text()
    assert "max_customers_per_group: 150" in text
    assert "\ncatalog_dir: catalogs\n" in text
    if not catalogs:
        text = text.replace("\ncatalog_dir: catalogs\n", "\n")
    (project / "fleet.yaml").write_text(
        text.replace("max_customers_per_group: 150", f"max_customers_per_group: {max_per_group}")
    )
    (project / ".gitignore").write_text(".state/\n__pycache__/\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    commit(project, "program")
    return project


def commit(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", message)


def fleet_env(state: Path, emulator_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "TWILIO_", "TLZ_"))}
    env.update(
        {
            "PATH": f"{BIN_DIR}:{VENV_DIR / 'bin'}:{env.get('PATH', '')}",
            "PYTHONPATH": str(REPO_ROOT),
            "PULUMI_BACKEND_URL": f"file://{state / 'backend'}",
            "PULUMI_HOME": str(state / "home"),
            "PULUMI_CONFIG_PASSPHRASE": "twilio-landing-zone-local",
            "NO_COLOR": "1",
        }
    )
    if emulator_url:
        env["TWILIO_EMULATOR_URL"] = emulator_url
    env.update(extra)
    return env


def fleet_command(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "fleet", "--project-dir", str(project), *args]


def run_fleet(
    project: Path, *args: str, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        fleet_command(project, *args),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_fleet(project: Path, *args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python -m fleet` in the background, in a session of its own (as a terminal would run
    it), its output in `log`."""
    with log.open("w") as handle:
        return subprocess.Popen(
            fleet_command(project, *args),
            cwd=project,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C at the terminal: SIGINT to the foreground process group."""
    os.killpg(process.pid, signal.SIGINT)


def add_customers(project: Path, keys: list[str], env: dict[str, str]) -> list[str]:
    groups = []
    for key in keys:
        added = run_fleet(project, "add-customer", key, "--name", key.title(), env=env)
        assert added.returncode == 0, added.stderr
        groups.append(added.stdout.strip())
    return groups
