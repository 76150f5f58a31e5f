"""`python -m collector serve` as a subprocess, exactly as a user runs it (tests, bench)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class CollectorProcess:
    """`python -m collector serve` as a subprocess (the CLI exactly as a user runs it)."""

    process: subprocess.Popen
    base_url: str
    log_path: Path

    @property
    def status_url(self) -> str:
        return self.base_url + "/twilio/status"

    def health(self) -> dict:
        return httpx.get(self.base_url + "/healthz", timeout=5).json()

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")


def collector_environment(emulator_url: str) -> dict[str, str]:
    """No Twilio credentials: the collector falls back to the emulator, as the providers do."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env["TWILIO_EMULATOR_URL"] = emulator_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def collector_cli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


@contextmanager
def collector_process(
    database_url: str,
    env: dict[str, str],
    workdir: Path,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
    workers: int = 1,
) -> Iterator[CollectorProcess]:
    """`serve` with `workers` processes on `port` (default: a free one) until the block ends,
    then SIGTERM."""
    port = port or free_port()
    extra_args = ("--workers", str(workers), *extra_args)
    log_path = workdir / "collector.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "collector",
                "serve",
                "--port",
                str(port),
                "--db",
                database_url,
                *extra_args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = CollectorProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        # A start is seconds on an idle machine and 40 s on a shared one at load 50; a
        # process that exits is reported at once, so only a hung start waits this long.
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the collector exited at start:\n{running.log()}")
            try:
                if running.health()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the collector did not start:\n{running.log()}")
            time.sleep(0.05)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
