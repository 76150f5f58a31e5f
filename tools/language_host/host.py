"""A small Pulumi language host for Python programs and policy packs.

Pulumi's own `pulumi-language-python` is a Go binary that no registry here serves, so
setup installs this one where no official host exists. It implements the part of
`pulumirpc.LanguageRuntime` that running a program and a policy pack needs; everything else
answers UNIMPLEMENTED, exactly as an older official host would.

The CLI starts it as `pulumi-language-python [flags] <engine-address>`, reads the port it
prints on stdout, and kills it when done. Pulumi starts plugins in process groups of their
own, so a CLI killed with SIGKILL never gets to: the host then stops by itself, with the
programs and policy packs it started and whatever they started (as tools/provider_host does).
Should the host itself be killed with SIGKILL, the kernel stops its children
(child_processes.py says how).
"""

from __future__ import annotations

import json
import os
import queue
import runpy
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from child_processes import ChildStarter, kill_group  # beside this script (sys.path[0])
from google.protobuf import empty_pb2
from protocol import language_pb2, language_pb2_grpc, plugin_pb2  # beside this script

# The program reports its own error and exits with this code to ask the engine not to
# print another one (Pulumi's convention): defined once, beside the program that uses it.
BAIL_EXIT_CODE: int = runpy.run_path(
    str(Path(__file__).resolve().parents[2] / "components" / "exit_codes.py")
)["BAIL_EXIT_CODE"]

# How often the host checks that the CLI that started it is still there.
ORPHAN_CHECK_SECONDS = 0.1
# The exit code of a host whose CLI is gone (EX_SOFTWARE, as the provider host uses).
ORPHANED_EXIT_CODE = 70

# CLI flags that take no value; every other `-flag` is followed by its value.
BOOLEAN_FLAGS = frozenset({"logtostderr", "logflow", "version", "dry-run"})


@dataclass(frozen=True)
class HostArguments:
    executor: Path
    engine_address: str
    print_version: bool
    # The CLI's PID as our wrapper saw it before `exec`: a CLI killed while this interpreter
    # was still starting has already re-parented us by the time we could ask `getppid()`.
    parent_pid: int | None = None


def parse_arguments(argv: Sequence[str]) -> HostArguments:
    """Parse `--executor PATH` (from our wrapper) followed by the CLI's own arguments."""
    args = list(argv)
    executor: Path | None = None
    parent_pid: int | None = None
    positional: list[str] = []
    print_version = False
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--executor":
            executor = Path(args[index + 1])
            index += 2
            continue
        if arg == "--parent-pid":
            parent_pid = int(args[index + 1])
            index += 2
            continue
        if arg.startswith("-"):
            name = arg.lstrip("-")
            if name == "version":
                print_version = True
            if "=" in name or name in BOOLEAN_FLAGS:
                index += 1
            else:
                if name == "use-executor" and index + 1 < len(args):
                    executor = Path(args[index + 1])
                index += 2
            continue
        positional.append(arg)
        index += 1
    if executor is None:
        raise SystemExit("pulumi-language-python: --executor PATH is required")
    return HostArguments(
        executor=executor,
        engine_address=positional[-1] if positional else "",
        print_version=print_version,
        parent_pid=parent_pid,
    )


def sdk_version() -> str:
    from importlib.metadata import version

    return version("pulumi")


def python_for(info: language_pb2.ProgramInfo) -> str:
    """The interpreter of the project's virtualenv: Pulumi.yaml's `virtualenv` option if set,
    else the interpreter running this host (setup starts it from the project venv)."""
    virtualenv = info.options.fields.get("virtualenv") if info.HasField("options") else None
    if virtualenv is not None and virtualenv.string_value:
        venv = Path(virtualenv.string_value)
        if not venv.is_absolute():
            venv = Path(info.root_directory) / venv
        candidate = venv / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


def run_command(request: language_pb2.RunRequest, executor: Path, engine_address: str) -> list[str]:
    """The command line that pulumi's exec script expects (flags with empty values omitted)."""
    flags = {
        "--monitor": request.monitor_address,
        "--engine": engine_address,
        "--project": request.project,
        "--root_directory": request.info.root_directory,
        "--stack": request.stack,
        "--pwd": request.pwd,
        "--dry_run": "true" if request.dryRun else "false",
        "--parallel": str(request.parallel),
        "--organization": request.organization,
    }
    command = [python_for(request.info), "-u", str(executor)]
    for flag, value in flags.items():
        if value:
            command += [flag, value]
    entry_point = request.info.entry_point or request.program or "."
    return [*command, entry_point, *request.args]


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, executor: Path, engine_address: str) -> None:
        self._executor = executor
        self._engine_address = engine_address
        self._children: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._starter = ChildStarter()

    # -- small RPCs -------------------------------------------------------------------------

    def Handshake(self, request, context):
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=sdk_version())

    def GetRequiredPlugins(self, request, context):
        # The program's plugins are bundled with the CLI; nothing is ever downloaded.
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request, context):
        return language_pb2.GetRequiredPackagesResponse()

    def InstallDependencies(self, request, context):
        # Setup owns the virtualenv; the engine must not pip-install behind its back.
        return iter(())

    def Cancel(self, request, context):
        with self._lock:
            children = list(self._children)
        for child in children:
            if child.poll() is None:
                child.terminate()
        return empty_pb2.Empty()

    # -- programs ---------------------------------------------------------------------------

    def Run(self, request, context):
        command = run_command(request, self._executor, self._engine_address)
        env = dict(os.environ)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        # The program's output goes straight to ours, which the CLI shows as it comes.
        child = self._starter.start(command, cwd=request.pwd or None, env=env)
        code = self._wait(child)
        if code == 0:
            return language_pb2.RunResponse()
        if code == BAIL_EXIT_CODE:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {code}")

    def RunPlugin(self, request, context):
        python = python_for(request.info)
        if request.kind == "analyzer":
            # A policy pack: the CLI reads the pack's gRPC port from this stream, so every
            # chunk is forwarded as soon as it arrives.
            command = [python, "-u", "-m", "pulumi.policy", *request.args]
            command.append(request.info.program_directory)
            cwd = request.info.program_directory
        else:
            command = [python, "-u", request.info.program_directory, *request.args]
            cwd = request.pwd or None
        env = dict(os.environ)
        for entry in request.env:
            key, _, value = entry.partition("=")
            env[key] = value
        child = self._starter.start(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        yield from self._stream(child)

    def kill_children(self) -> None:
        """SIGKILL every program and policy pack still running, with what they started (each
        child leads a process group of its own): their engine is gone, so nothing they do can
        be recorded, and a program still registering resources would race the next run."""
        with self._lock:
            children = list(self._children)
        for child in children:
            kill_group(child)

    # -- helpers ----------------------------------------------------------------------------

    def _wait(self, child: subprocess.Popen[bytes]) -> int:
        with self._lock:
            self._children.add(child)
        try:
            return child.wait()
        finally:
            with self._lock:
                self._children.discard(child)

    def _stream(self, child: subprocess.Popen[bytes]) -> Iterator[language_pb2.RunPluginResponse]:
        chunks: queue.Queue[tuple[str, bytes | None]] = queue.Queue()

        def pump(name: str, pipe) -> None:
            for chunk in iter(lambda: pipe.read1(65536), b""):
                chunks.put((name, chunk))
            chunks.put((name, None))

        readers = [
            threading.Thread(target=pump, args=("stdout", child.stdout), daemon=True),
            threading.Thread(target=pump, args=("stderr", child.stderr), daemon=True),
        ]
        for reader in readers:
            reader.start()
        with self._lock:
            self._children.add(child)
        try:
            open_pipes = 2
            while open_pipes:
                name, chunk = chunks.get()
                if chunk is None:
                    open_pipes -= 1
                    continue
                if name == "stdout":
                    yield language_pb2.RunPluginResponse(stdout=chunk)
                else:
                    yield language_pb2.RunPluginResponse(stderr=chunk)
            code = child.wait()
        finally:
            with self._lock:
                self._children.discard(child)
            if child.poll() is None:
                child.kill()
        yield language_pb2.RunPluginResponse(exitcode=code)


def exit_when_orphaned(
    parent: int, host: LanguageHost, interval: float = ORPHAN_CHECK_SECONDS
) -> threading.Thread:
    """Once the CLI that started us is gone (we were re-parented), stop its children and
    exit at once: nobody is left to receive what they produce."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        host.kill_children()
        os._exit(ORPHANED_EXIT_CODE)

    watcher = threading.Thread(target=watch, name="orphan-watch", daemon=True)
    watcher.start()
    return watcher


def serve(arguments: HostArguments) -> None:
    # The CLI's PID from the wrapper (else read before anything else): if the CLI died while
    # we started, the watch sees a parent that is not it and stops us at once.
    parent = arguments.parent_pid or os.getppid()
    host = LanguageHost(arguments.executor, arguments.engine_address)
    exit_when_orphaned(parent, host)

    stopped = threading.Event()

    def stop(signum, frame) -> None:
        stopped.set()

    # Before the port is printed: the CLI may stop us as soon as it has read it.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
    )
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(host, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    stopped.wait()
    server.stop(grace=None)


def main(argv: Sequence[str]) -> int:
    arguments = parse_arguments(argv)
    if arguments.print_version:
        print(sdk_version())
        return 0
    if not arguments.executor.exists():
        print(
            f"pulumi-language-python: missing executor {arguments.executor}; run `make setup`",
            file=sys.stderr,
        )
        return 1
    serve(arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
