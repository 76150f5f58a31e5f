"""Run the commands a user runs: `python -m emulator seed ...` and `python -m estate audit`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.emulator_process import REPO_ROOT, EmulatorProcess

CREDENTIAL_VARIABLES = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_EMULATOR_URL")


def seed(db_path: Path, estate: str, *extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "seed", estate, "--db", str(db_path), *extra],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


@contextmanager
def seeded_emulator(
    workdir: Path, estate: str = "legacy", *extra: str
) -> Iterator[EmulatorProcess]:
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "emulator.db"
    seed(db_path, estate, *extra)
    process = EmulatorProcess(workdir, db_path=db_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@dataclass(frozen=True)
class AuditRun:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def run_audit(
    *args: str, emulator_url: str | None = None, env: dict[str, str] | None = None
) -> AuditRun:
    """`python -m estate audit ARGS` with no Twilio credentials in its environment, so it
    resolves them as the program does: the emulator at TWILIO_EMULATOR_URL."""
    environ = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    if emulator_url:
        environ["TWILIO_EMULATOR_URL"] = emulator_url
    environ.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "estate", "audit", *args],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return AuditRun(done.returncode, done.stdout, done.stderr)


def findings_by_rule(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["rule"], f["object_name"]) for f in document["findings"]}


def writes(stats: dict[str, Any]) -> int:
    return int(stats["writes"])


def peaks(stats: dict[str, Any]) -> Sequence[int]:
    return list(stats["in_flight_peak"].values())
