"""Per-call records of the provider host (tools/provider_host/provider_host.py), switched on by
`TLZ_PROVIDER_TRACE=<dir>`: one JSON line per provider call (method, resource type, start,
wall seconds, thread CPU seconds) in `provider-<pid>.jsonl`, and, with
`TLZ_PROVIDER_PROFILE=1`, a cProfile (thread CPU) of every call, merged per process into
`provider-<pid>.pstats` when the engine stops the plugin (SIGINT). The benchmark reads them
(bench/measure.py); nothing else changes in the host when they are on.
"""

from __future__ import annotations

import atexit
import cProfile
import functools
import json
import os
import threading
import time
from pathlib import Path

# Servicer methods worth timing: the ones that run provider code.
TIMED = ("Check", "Diff", "Create", "Read", "Update", "Delete")


class Recorder:
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

    def instrument(self, servicer) -> None:
        """Time every provider call of this servicer (before the host registers it)."""
        for name in TIMED:
            setattr(servicer, name, self.wrap(name, getattr(servicer, name)))

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
