"""The project's Python language host, started the way the CLI starts it: a subprocess that
prints its port on stdout, then serves `pulumirpc.LanguageRuntime`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

from tests.support.pulumi_cli import BIN_DIR, REPO_ROOT

HOST = REPO_ROOT / "tools" / "language_host" / "host.py"

# Stands in for pulumi-language-python-exec: records how it was called, then behaves like
# the program it was given (exit code from the program file's contents).
FAKE_EXECUTOR = textwrap.dedent(
    """
    import json, os, sys
    record = {
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "config": json.loads(os.environ["PULUMI_CONFIG"]),
        "secret_keys": json.loads(os.environ["PULUMI_CONFIG_SECRET_KEYS"]),
    }
    with open(os.environ["RECORD_TO"], "w") as out:
        json.dump(record, out)
    print("program says hello", flush=True)
    program = next(arg for arg in sys.argv[1:] if arg.endswith(".py"))
    sys.exit(int(open(program).read()))
    """
)


@dataclass
class RunningHost:
    process: subprocess.Popen[str]
    stub: language_pb2_grpc.LanguageRuntimeStub
    channel: grpc.Channel


def start_host(command: list[str], env: dict[str, str] | None = None) -> RunningHost:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    port = int(process.stdout.readline())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    return RunningHost(process, language_pb2_grpc.LanguageRuntimeStub(channel), channel)


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningHost]:
    executor = tmp_path / "fake-exec"
    executor.write_text(FAKE_EXECUTOR)
    env = {"RECORD_TO": str(tmp_path / "record.json"), "PATH": "/usr/bin:/bin"}
    running = start_host(
        [sys.executable, str(HOST), "--executor", str(executor), "-tracing", "", "127.0.0.1:9"],
        env=env,
    )
    yield running
    running.channel.close()
    running.process.terminate()
    running.process.wait(timeout=10)


def program_info(root: Path, entry_point: str = ".") -> language_pb2.ProgramInfo:
    return language_pb2.ProgramInfo(
        root_directory=str(root), program_directory=str(root), entry_point=entry_point
    )


def test_small_rpcs_answer_as_the_cli_expects(host: RunningHost) -> None:
    assert host.stub.GetPluginInfo(empty_pb2.Empty()).version == version("pulumi")
    host.stub.Handshake(language_pb2.LanguageHandshakeRequest(engine_address="127.0.0.1:9"))
    plugins = host.stub.GetRequiredPlugins(language_pb2.GetRequiredPluginsRequest())
    assert list(plugins.plugins) == []
    packages = host.stub.GetRequiredPackages(language_pb2.GetRequiredPackagesRequest())
    assert list(packages.packages) == []
    installs = host.stub.InstallDependencies(language_pb2.InstallDependenciesRequest())
    assert list(installs) == []
    host.stub.Cancel(empty_pb2.Empty())
    with pytest.raises(grpc.RpcError) as unimplemented:
        host.stub.About(language_pb2.AboutRequest())
    assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_run_calls_the_executor_with_the_documented_command_line(
    host: RunningHost, tmp_path: Path
) -> None:
    (tmp_path / "main.py").write_text("0")
    response = host.stub.Run(
        language_pb2.RunRequest(
            project="proj",
            stack="dev",
            pwd=str(tmp_path),
            info=program_info(tmp_path, "main.py"),
            args=["extra"],
            config={"proj:color": "blue", "proj:token": "s3"},
            configSecretKeys=["proj:token"],
            dryRun=True,
            parallel=16,
            monitor_address="127.0.0.1:7",
            organization="",
        )
    )
    assert response.error == "" and not response.bail
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["argv"] == [
        "--monitor", "127.0.0.1:7",
        "--engine", "127.0.0.1:9",
        "--project", "proj",
        "--root_directory", str(tmp_path),
        "--stack", "dev",
        "--pwd", str(tmp_path),
        "--dry_run", "true",
        "--parallel", "16",
        "main.py", "extra",
    ]  # fmt: skip
    assert record["cwd"] == str(tmp_path)
    assert record["config"] == {"proj:color": "blue", "proj:token": "s3"}
    assert record["secret_keys"] == ["proj:token"]


@pytest.mark.parametrize(
    ("exit_code", "error", "bail"),
    [(0, "", False), (32, "", True), (3, "Program exited with non-zero exit code: 3", False)],
)
def test_run_maps_exit_codes(
    host: RunningHost, tmp_path: Path, exit_code: int, error: str, bail: bool
) -> None:
    (tmp_path / "main.py").write_text(str(exit_code))
    response = host.stub.Run(
        language_pb2.RunRequest(
            project="p", stack="s", pwd=str(tmp_path), info=program_info(tmp_path, "main.py")
        )
    )
    assert (response.error, response.bail) == (error, bail)


def test_run_plugin_streams_output_as_it_comes(host: RunningHost, tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "__main__.py").write_text(
        "import sys, time\n"
        "print('early', flush=True)\n"
        "time.sleep(1.5)\n"
        "print('late', file=sys.stderr, flush=True)\n"
        "sys.exit(7)\n"
    )
    started = time.monotonic()
    arrivals = []
    for response in host.stub.RunPlugin(
        language_pb2.RunPluginRequest(pwd=str(tmp_path), info=program_info(plugin), kind="tool")
    ):
        arrivals.append((time.monotonic() - started, response))
    (first_at, first), *_, (_, last) = arrivals
    assert first.stdout == b"early\n"
    assert first_at < 1.2, "the first chunk waited for the plugin to finish"
    assert b"late\n" in b"".join(response.stderr for _, response in arrivals)
    assert last.exitcode == 7


def test_policy_pack_reports_its_port_before_exiting(host: RunningHost) -> None:
    pack = REPO_ROOT / "tests" / "e2e" / "plumbing" / "project" / "policy_pack"
    stream = host.stub.RunPlugin(
        language_pb2.RunPluginRequest(
            pwd=str(pack), info=program_info(pack), kind="analyzer", args=["127.0.0.1:9"]
        )
    )
    first = next(stream)
    # The pack serves until killed; its first words are its gRPC port.
    assert int(first.stdout.decode().split()[0]) > 0
    host.stub.Cancel(empty_pb2.Empty())
    assert [r.exitcode for r in stream if r.exitcode][-1] != 0


def test_stops_quietly_on_sigterm(host: RunningHost) -> None:
    host.process.send_signal(signal.SIGTERM)
    assert host.process.wait(timeout=10) == 0
    assert host.process.stderr.read() == ""


def test_installed_wrapper_starts_with_the_checkouts_venv() -> None:
    running = start_host([str(BIN_DIR / "pulumi-language-python"), "127.0.0.1:9"])
    try:
        assert running.stub.GetPluginInfo(empty_pb2.Empty()).version == version("pulumi")
    finally:
        running.channel.close()
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(timeout=10) == 0
