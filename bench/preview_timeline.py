"""Where a policy check's wall time goes, read from the engine's own log (`-v=7`): when the
pack was ready, when the program registered its first and last resource, the pack's stack
analysis, the program's exit, and each plugin call the engine made per resource (provider
Check and Diff, pack Remediate and Analyze) with its latency as the engine saw it.

The engine generates steps one registration at a time (pkg/resource/deploy/step_generator.go,
engine 3.274.1): Check, Remediate and Analyze (and Diff, unless PULUMI_PARALLEL_DIFF) run in
series for each resource, so their sum is wall time the registrations wait for.

    bench.policy_check --timeline   (one more no-change check of each entry point, logged)

Verbose logging has a cost of its own (tens of thousands of lines): compare the timelines with
each other, and take wall times from the bench's table.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

# `Provider[0x..].Check(urn) executing`, `Analyzer[path].Remediate(type) success: ...`; a Diff
# names the resource as `(urn,id):`.
_CALL = re.compile(
    r"^(?P<who>Provider|Analyzer)\[[^\]]*\]\.(?P<method>\w+)\((?P<arg>.*?)\):? "
    r"(?P<state>executing|success|failed)"
)
PER_RESOURCE = ("Check", "Remediate", "Analyze", "Diff")
MILESTONES = (
    ("pack ready", "StackConfigure: success"),
    ("program started", "langhost[python].Run("),
    ("first registration", "received RegisterResourceEvent"),
    ("provider ready", "].GetPluginInfo() success"),
    ("last registration", "received RegisterResourceEvent"),
    ("stack analysis starts", ".AnalyzeStack(#resources="),
    ("stack analysis ends", ".AnalyzeStack(...) success"),
    ("program exited", "Program exited"),
    ("engine done", "Update(preview=true) complete"),
)


@dataclass
class Timeline:
    started: float  # the command's start, seconds since the epoch
    milestones: dict[str, float] = field(default_factory=dict)  # name -> seconds from start
    latencies: dict[str, list[float]] = field(default_factory=dict)  # method -> seconds
    registrations: int = 0

    def lines(self, label: str, wall: float) -> list[str]:
        out = [f"timeline of `{label}` (seconds from the command's start; wall {wall:.1f}):"]
        out += [f"  {seconds:6.2f}  {name}" for name, seconds in self.milestones.items()]
        first = self.milestones.get("first registration")
        last = self.milestones.get("last registration")
        if first is not None and last is not None and self.registrations > 1:
            per = (last - first) / (self.registrations - 1) * 1000
            out.append(f"  {self.registrations} registrations, {per:.1f} ms apart on average")
        for method in PER_RESOURCE:
            values = self.latencies.get(method, [])
            if values:
                median = statistics.median(values) * 1000
                out.append(
                    f"  {method:9s} x{len(values):5d}: median {median:.2f} ms, "
                    f"sum {sum(values):.2f} s (as the engine waited for it)"
                )
        return out


def _records(log: str) -> Iterable[tuple[float, str]]:
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        stamp = record.get("time", "")
        message = record.get("msg", "")
        if stamp and message:
            yield datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp(), message


def parse(log: str, started: float) -> Timeline:
    """The timeline of a CLI run's `-v=7 --logtostderr` output (JSON lines)."""
    timeline = Timeline(started)
    pending: dict[tuple[str, str, str], float] = {}
    for stamp, message in _records(log):
        since = stamp - started
        for name, marker in MILESTONES:
            if marker in message and (
                name == "last registration" or name not in timeline.milestones
            ):
                timeline.milestones[name] = since
        if "received RegisterResourceEvent" in message:
            timeline.registrations += 1
        call = _CALL.match(message)
        if call is None or call["method"] not in PER_RESOURCE:
            continue
        key = (call["who"], call["method"], call["arg"].split(",")[0])
        if call["state"] == "executing":
            pending[key] = stamp
        elif key in pending:
            timeline.latencies.setdefault(call["method"], []).append(stamp - pending.pop(key))
    timeline.milestones = dict(sorted(timeline.milestones.items(), key=lambda item: item[1]))
    return timeline
