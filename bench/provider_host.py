"""The `pulumi-python` provider host the benchmark runs: Pulumi's own `python -m pulumi.dynamic`,
with two knobs and a recorder, and nothing else changed (same servicer, same provider code, same
pickled `__provider`).

- `TLZ_PROVIDER_WORKERS` (default 4, Pulumi's own number): the size of the gRPC thread pool that
  serves Create/Read/Update/Delete/Check/Diff. Pulumi hard-codes 4 (pulumi.md §4.2 item 10),
  which caps a whole stack at 4 provider operations at once whatever `--parallel` says.
- `TLZ_PROVIDER_TRACE` (a directory): one JSON line per provider call (method, resource type,
  start, wall seconds, thread CPU seconds) in `provider-<pid>.jsonl`, and, with
  `TLZ_PROVIDER_PROFILE=1`, a cProfile (thread CPU) of every call, merged per process into
  `provider-<pid>.pstats` when the engine stops the plugin (SIGINT).

Unlike Pulumi's own host, it also exits as soon as its engine is gone (its parent process
changes): a `pulumi` killed with SIGKILL otherwise leaves the provider running forever in its own
process group, still finishing the creates it had started while the next run starts them again.

The engine finds it through the project's Pulumi.yaml (`plugins: providers: [{name:
pulumi-python, path: <dir>}]`), where `<dir>/pulumi-resource-pulumi-python` execs this file with
the project's interpreter (see `write_plugin_dir`).
"""

from __future__ import annotations

import atexit
import cProfile
import functools
import json
import os
import stat
import sys
import threading
import time
from pathlib import Path

STOCK_WORKERS = 4
PLUGIN_NAME = "pulumi-resource-pulumi-python"
# Servicer methods worth timing: the ones that run provider code.
TIMED = ("Check", "Diff", "Create", "Read", "Update", "Delete")


def write_plugin_dir(directory: Path, python: str) -> Path:
    """A plugin directory whose `pulumi-resource-pulumi-python` runs this host."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / PLUGIN_NAME
    script.write_text(f'#!/bin/sh\nexec "{python}" -u "{Path(__file__).resolve()}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return directory


class _Recorder:
    def __init__(self, trace_dir: Path, profile: bool) -> None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        self._lines = (trace_dir / f"provider-{pid}.jsonl").open("a", buffering=1)
        self._pstats = trace_dir / f"provider-{pid}.pstats"
        self._lock = threading.Lock()
        self._profile = profile
        self._profiles: list[cProfile.Profile] = []
        self._local = threading.local()
        atexit.register(self.close)

    def _profiler(self) -> cProfile.Profile:
        profiler = getattr(self._local, "profiler", None)
        if profiler is None:
            # CPU of the serving thread, not its waiting on Twilio.
            profiler = self._local.profiler = cProfile.Profile(time.thread_time)
            with self._lock:
                self._profiles.append(profiler)
        return profiler

    def wrap(self, method_name: str, method):
        @functools.wraps(method)
        def timed(request, context):
            urn = getattr(request, "urn", "") or ""
            kind = urn.rsplit("::", 2)[-2].rsplit("$", 1)[-1] if urn.count("::") >= 2 else ""
            profiler = self._profiler() if self._profile else None
            started, cpu = time.time(), time.thread_time()
            if profiler is not None:
                profiler.enable()
            try:
                return method(request, context)
            finally:
                if profiler is not None:
                    profiler.disable()
                record = {
                    "method": method_name,
                    "type": kind.removeprefix("pulumi-python:dynamic/twilio:"),
                    "start": started,
                    "wall": time.time() - started,
                    "cpu": time.thread_time() - cpu,
                }
                with self._lock:
                    self._lines.write(json.dumps(record) + "\n")

        return timed

    def close(self) -> None:
        with self._lock:
            profiles = list(self._profiles)
            self._lines.close()
        if profiles:
            import pstats

            merged = pstats.Stats(profiles[0])
            for profiler in profiles[1:]:
                merged.add(profiler)
            merged.dump_stats(str(self._pstats))


def _exit_when_orphaned(parent: int, interval: float = 0.1) -> None:
    """The engine that started us is gone (killed, crashed): stop at once, in-flight calls
    included, as if killed with it. Nobody would receive their results."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(70)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def main() -> None:
    _exit_when_orphaned(os.getppid())
    # `python -m pulumi.dynamic` runs in the program directory with it on sys.path (that is how
    # the pickled providers import); a script's sys.path[0] is its own folder instead.
    sys.path.insert(0, os.getcwd())
    workers = int(os.environ.get("TLZ_PROVIDER_WORKERS") or STOCK_WORKERS)
    trace_dir = os.environ.get("TLZ_PROVIDER_TRACE")
    recorder = (
        _Recorder(Path(trace_dir), os.environ.get("TLZ_PROVIDER_PROFILE") == "1")
        if trace_dir
        else None
    )

    from concurrent import futures

    import grpc
    from pulumi.runtime.proto import provider_pb2_grpc

    stock_server = grpc.server

    def server(executor, *args, **kwargs):
        if workers != STOCK_WORKERS:
            executor.shutdown(wait=False)
            executor = futures.ThreadPoolExecutor(max_workers=workers)
        return stock_server(executor, *args, **kwargs)

    grpc.server = server

    if recorder is not None:
        stock_add = provider_pb2_grpc.add_ResourceProviderServicer_to_server

        def add(servicer, grpc_server):
            for name in TIMED:
                setattr(servicer, name, recorder.wrap(name, getattr(servicer, name)))
            return stock_add(servicer, grpc_server)

        provider_pb2_grpc.add_ResourceProviderServicer_to_server = add

    import runpy

    # Pulumi's host: serves until the engine stops it (SIGINT -> KeyboardInterrupt -> return).
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
