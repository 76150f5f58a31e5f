"""The project's language host stops, with the program it started, when the CLI that started
it is killed with SIGKILL (Pulumi starts plugins in process groups of their own, so nothing
else would stop them); so does whatever the program started. When the host itself is killed
with SIGKILL, its programs and policy packs stop too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import grpc
import pytest
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

from tests.tools.test_language_host import HOST, program_info

# Stands in for the CLI: starts the host as the CLI does, says where it is, and waits.
FAKE_CLI = textwrap.dedent(
    """
    import subprocess, sys, time
    host = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
    print(host.pid, host.stdout.readline().strip(), flush=True)
    time.sleep(600)
    """
)

# A program that says who it is, then runs until killed.
LINGERING_EXECUTOR = textwrap.dedent(
    """
    import os, pathlib, sys, time
    pathlib.Path(os.environ["RECORD_TO"]).write_text(str(os.getpid()))
    time.sleep(600)
    """
)

# A program that starts a process of its own, says who both are, then runs until killed.
SPAWNING_EXECUTOR = textwrap.dedent(
    """
    import os, pathlib, subprocess, sys, time
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    pathlib.Path(os.environ["RECORD_TO"]).write_text(f"{os.getpid()} {helper.pid}")
    time.sleep(600)
    """
)

# A policy pack (`python -m pulumi.policy`, as RunPlugin starts it) that says who it is.
LINGERING_PACK = textwrap.dedent(
    """
    import os, pathlib, time
    pathlib.Path(os.environ["PACK_RECORD_TO"]).write_text(str(os.getpid()))
    time.sleep(600)
    """
)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    alive = [pid for pid in pids if _running(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _running(pid)]
    return alive


def _start_cli(tmp_path: Path, executor_source: str, env: dict[str, str]) -> subprocess.Popen:
    executor = tmp_path / "lingering-exec"
    executor.write_text(executor_source)
    (tmp_path / "main.py").write_text("0")
    return subprocess.Popen(
        [
            sys.executable, "-c", FAKE_CLI,
            sys.executable, str(HOST), "--executor", str(executor), "127.0.0.1:9",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        start_new_session=True,
    )  # fmt: skip


def _recorded_pids(record: Path) -> list[int]:
    deadline = time.monotonic() + 20
    while not record.exists() or not record.read_text():
        assert time.monotonic() < deadline, f"{record.name}: the process never started"
        time.sleep(0.02)
    return [int(pid) for pid in record.read_text().split()]


def _run_program(cli: subprocess.Popen, tmp_path: Path) -> tuple:
    """The host's pid, its channel and stub, and the pending Run of `main.py` it was asked for."""
    host_pid, port = map(int, cli.stdout.readline().split())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = language_pb2_grpc.LanguageRuntimeStub(channel)
    run = stub.Run.future(
        language_pb2.RunRequest(
            project="p", stack="s", pwd=str(tmp_path), info=program_info(tmp_path, "main.py")
        )
    )
    return host_pid, channel, stub, run


def test_what_the_program_started_stops_when_the_cli_is_killed(tmp_path: Path) -> None:
    record = tmp_path / "program.pid"
    cli = _start_cli(tmp_path, SPAWNING_EXECUTOR, {"RECORD_TO": str(record)})
    try:
        host_pid, channel, _stub, run = _run_program(cli, tmp_path)
        program_pid, helper_pid = _recorded_pids(record)
        assert _running(helper_pid)

        cli.kill()
        cli.wait(timeout=10)

        assert _gone_within([host_pid, program_pid, helper_pid], 2.0) == []
        assert run.exception(timeout=10) is not None
        channel.close()
    finally:
        if cli.poll() is None:
            cli.kill()


def test_programs_and_packs_stop_when_the_host_itself_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves the host no chance to stop anything: the kernel stops its children."""
    program_record, pack_record = tmp_path / "program.pid", tmp_path / "pack.pid"
    pack_dir = tmp_path / "pack"
    (pack_dir / "pulumi" / "policy").mkdir(parents=True)
    # A stand-in `pulumi.policy` package first on the pack's path (its directory is its cwd).
    (pack_dir / "pulumi" / "__init__.py").write_text("")
    (pack_dir / "pulumi" / "policy" / "__init__.py").write_text("")
    (pack_dir / "pulumi" / "policy" / "__main__.py").write_text(LINGERING_PACK)
    cli = _start_cli(
        tmp_path,
        LINGERING_EXECUTOR,
        {"RECORD_TO": str(program_record), "PACK_RECORD_TO": str(pack_record)},
    )
    try:
        host_pid, channel, stub, run = _run_program(cli, tmp_path)
        pack = stub.RunPlugin(
            language_pb2.RunPluginRequest(
                pwd=str(pack_dir),
                kind="analyzer",
                info=language_pb2.ProgramInfo(
                    root_directory=str(pack_dir), program_directory=str(pack_dir)
                ),
            )
        )
        [program_pid] = _recorded_pids(program_record)
        [pack_pid] = _recorded_pids(pack_record)

        os.kill(host_pid, signal.SIGKILL)  # the host, not the CLI: no watch of ours runs

        assert _gone_within([host_pid, program_pid, pack_pid], 2.0) == []
        assert run.exception(timeout=10) is not None
        with pytest.raises(grpc.RpcError):
            list(pack)
        channel.close()
    finally:
        cli.kill()
        cli.wait(timeout=10)


def test_host_and_its_program_stop_when_the_cli_is_killed(tmp_path: Path) -> None:
    executor = tmp_path / "lingering-exec"
    executor.write_text(LINGERING_EXECUTOR)
    (tmp_path / "main.py").write_text("0")
    record = tmp_path / "program.pid"
    cli = subprocess.Popen(
        [
            sys.executable, "-c", FAKE_CLI,
            sys.executable, str(HOST), "--executor", str(executor), "127.0.0.1:9",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={"RECORD_TO": str(record), "PATH": "/usr/bin:/bin"},
        start_new_session=True,
    )  # fmt: skip
    try:
        host_pid, channel, _stub, run = _run_program(cli, tmp_path)
        deadline = time.monotonic() + 20
        while not record.exists() or not record.read_text():
            assert time.monotonic() < deadline, "the program never started"
            time.sleep(0.02)
        program_pid = int(record.read_text())
        assert _running(host_pid) and _running(program_pid)

        cli.kill()  # SIGKILL: the CLI gets no chance to stop its plugins
        cli.wait(timeout=10)

        assert _gone_within([host_pid, program_pid], 2.0) == []
        assert run.exception(timeout=10) is not None  # the host died mid-RPC
        channel.close()
    finally:
        if cli.poll() is None:
            cli.kill()
