"""Where a benchmark run's time goes: CPU per process role, provider calls, Twilio calls.

- `CpuSampler` reads /proc for every descendant of this process a few times a second and
  attributes CPU to a role: `engine` (the pulumi CLI and its Go language host), `program` (the
  Python program the language host runs), `provider` (the pulumi-python provider host),
  `emulator`, `other`. A process's last fraction of a second before it exits can be missed, so
  `CpuUse.engine` is the exact CPU of every finished child (getrusage) minus the sampled Python
  roles: whatever the sampler missed is counted as engine time.
- `provider_summary` reads the provider host's per-call records
  (tools/provider_host/call_recorder.py).
- `twilio_calls` counts the emulator's Twilio routes (its admin API is not counted).
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
ROLES = ("engine", "program", "provider", "emulator", "other")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class ProcessStat:
    ppid: int
    started: int  # clock ticks after boot: tells a process from a later one with its PID
    cpu: float  # its own CPU seconds (utime + stime)
    reaped: float  # CPU seconds of the children it has waited for (cutime + cstime)


def _stat(pid: str) -> ProcessStat | None:
    """A process's /proc/PID/stat, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    # fields[0] is the state (stat field 3): ppid is field 4, utime 14, stime 15, cutime 16,
    # cstime 17, starttime 22.
    ticks = [int(value) for value in fields[11:15]]
    return ProcessStat(
        int(fields[1]),
        int(fields[19]),
        (ticks[0] + ticks[1]) / _TICK,
        (ticks[2] + ticks[3]) / _TICK,
    )


def descendants(root: int) -> dict[str, ProcessStat]:
    """Every live descendant of `root` (not root itself), by PID, read from /proc once."""
    table = {pid: stat for pid in os.listdir("/proc") if pid.isdigit() and (stat := _stat(pid))}
    found = {}
    for pid, stat in table.items():
        ancestor, hops = stat.ppid, 0
        while ancestor not in (0, 1, root) and hops < 64:
            parent = table.get(str(ancestor))
            ancestor, hops = (parent.ppid if parent else 0), hops + 1
        if ancestor == root:
            found[pid] = stat
    return found


def command_line(pid: str) -> list[str] | None:
    """A process's argv, None if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return None


def process_role(pid: str) -> str:
    argv = command_line(pid)
    return "other" if argv is None else role_of_command(argv)


def role_of_command(argv: list[str]) -> str:
    joined = " ".join(argv)
    if "provider_host.py" in joined or "pulumi.dynamic" in joined:
        return "provider"
    if "pulumi-language-python-exec" in joined:
        return "program"
    if "-m emulator" in joined:
        return "emulator"
    executable = os.path.basename(argv[0]) if argv else ""
    if executable in ("pulumi", "pulumi-language-python"):
        return "engine"
    return "other"


@dataclass
class CpuUse:
    wall: float
    children: float  # exact CPU of children that finished during the window
    sampled: dict[str, float]
    script: float = 0.0  # CPU of work done inside this process (the floor's threads)

    @property
    def program(self) -> float:
        return self.sampled.get("program", 0.0)

    @property
    def provider(self) -> float:
        return self.sampled.get("provider", 0.0)

    @property
    def emulator(self) -> float:
        return self.sampled.get("emulator", 0.0)

    @property
    def engine(self) -> float:
        # Every sampled role but the engine's own and the emulator's is a Python process.
        python_roles = sum(
            cpu for role, cpu in self.sampled.items() if role not in ("engine", "emulator")
        )
        return max(self.children - python_roles, self.sampled.get("engine", 0.0))

    @property
    def orchestration(self) -> float:
        """CPU of everything on the Pulumi side (engine, program, provider)."""
        return self.engine + self.program + self.provider


class CpuSampler:
    """CPU per role of this process's descendants between `start()` and `stop()`."""

    def __init__(self, interval: float = 0.2, role_of: Callable[[str], str] | None = None) -> None:
        self._interval = interval
        # A benchmark may split the roles further (e.g. the policy pack out of `other`).
        self._role_of = role_of or process_role
        self._root = os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # (pid, start time) -> [role, CPU at first sight or at start(), latest CPU]
        self._seen: dict[tuple[str, int], list] = {}

    def _sample(self, baseline: bool = False) -> None:
        found = descendants(self._root)
        with self._lock:
            for pid, stat in found.items():
                started, cpu = stat.started, stat.cpu
                key = (pid, started)
                entry = self._seen.get(key)
                if entry is None:
                    # A process born during the window counts from zero.
                    self._seen[key] = [self._role_of(pid), cpu if baseline else 0.0, cpu]
                else:
                    entry[2] = cpu
                    # A plugin's shell wrapper becomes the process it execs, and a child
                    # first seen between fork and exec still shows its parent's command line.
                    # (An exiting process's command line reads empty: `other` never overrides.)
                    role = self._role_of(pid)
                    if role != "other":
                        entry[0] = role

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self) -> CpuSampler:
        self._seen.clear()
        self._sample(baseline=True)
        self._children0 = _children_cpu()
        self._wall0 = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> CpuUse:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        wall = time.monotonic() - self._wall0
        totals: Counter[str] = Counter()
        with self._lock:
            for role, first, latest in self._seen.values():
                totals[role] += max(0.0, latest - first)
        return CpuUse(wall, _children_cpu() - self._children0, dict(totals))


@dataclass
class ProviderUse:
    """The provider host's CRUD calls in a window: what the engine waited on."""

    calls: Counter = field(default_factory=Counter)  # (method, type) -> count
    busy: float = 0.0  # sum of call durations (thread-seconds)
    span: float = 0.0  # time with at least one call in flight
    cpu: float = 0.0  # CPU of the serving threads
    peak: int = 0  # most calls in flight at once

    @property
    def mean_in_flight(self) -> float:
        return self.busy / self.span if self.span else 0.0


def provider_summary(trace_dir: Path, since: float, until: float) -> ProviderUse:
    """Records of every provider process in `trace_dir` that started inside the window
    (wall-clock seconds). Check and Diff are counted but are not where the time goes."""
    use = ProviderUse()
    intervals: list[tuple[float, float]] = []
    for path in sorted(trace_dir.glob("provider-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by the plugin being stopped
            if not since <= record["start"] <= until:
                continue
            use.calls[(record["method"], record["type"])] += 1
            use.busy += record["wall"]
            use.cpu += record["cpu"]
            intervals.append((record["start"], record["start"] + record["wall"]))
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    in_flight, opened = 0, 0.0
    for moment, step in events:
        if in_flight == 0 and step == 1:
            opened = moment
        in_flight += step
        use.peak = max(use.peak, in_flight)
        if in_flight == 0:
            use.span += moment - opened
    return use


def twilio_calls(stats: dict) -> int:
    """Twilio requests the emulator answered (its admin API and unknown paths excluded)."""
    routes = stats.get("routes", {})
    return sum(count for route, count in routes.items() if route != "unmatched")


def routes_delta(before: dict, after: dict) -> Counter:
    delta = Counter(after.get("routes", {}))
    delta.subtract(before.get("routes", {}))
    return Counter({route: n for route, n in delta.items() if n and route != "unmatched"})
