"""`python -m emulator`: flags, the start line, loopback binding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator.defaults import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN
from tests.support.emulator_process import REPO_ROOT, EmulatorProcess


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_help_documents_the_defaults() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for flag in (
        "--port",
        "--db",
        "--account-sid",
        "--auth-token",
        "--no-default-service",
        "--fault-429-rate",
        "--fault-5xx-rate",
        "--fault-commit-then-fail-rate",
        "--latency-ms",
        "--eventual-consistency-ms",
        "--seed",
        "--message-failed-rate",
        "--message-undelivered-rate",
        "--lifecycle-step-ms",
    ):
        assert flag in result.stdout
    assert "4010" in result.stdout and ".state/emulator.db" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--account-sid", "AC123"],
        ["--auth-token", "short"],
        ["--fault-429-rate", "1.5"],
        ["--port", "70000"],
        ["--message-failed-rate", "0.7", "--message-undelivered-rate", "0.7"],
    ],
)
def test_bad_flags_exit_with_usage(args: list[str]) -> None:
    result = run_cli(*args, "--db", "/nonexistent/never-created.db")
    assert result.returncode == 2, result.stderr


def test_start_line_names_url_and_account_but_never_the_token(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path) as emulator:
        log = emulator.log_path.read_text()
        lines = [line for line in log.splitlines() if line.strip()]
        assert lines == [
            f"Twilio emulator listening on {emulator.url}"
            f" (account {DEV_ACCOUNT_SID}, db {emulator.db_path})"
        ]
        assert DEV_AUTH_TOKEN not in log
        assert emulator.url.startswith("http://127.0.0.1:")


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port`, from the kernel's table."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                addresses.add(address)
    return addresses


def test_listens_on_loopback_only(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path) as emulator:
        # 0100007F is 127.0.0.1 in the kernel's little-endian hex; 0.0.0.0 would be 00000000.
        assert _listening_addresses(emulator.port) == {"0100007F"}


def test_port_in_use_is_a_clean_error(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path) as emulator:
        result = run_cli("--port", str(emulator.port), "--db", str(tmp_path / "other.db"))
        assert result.returncode == 1
        assert "cannot listen" in result.stderr
