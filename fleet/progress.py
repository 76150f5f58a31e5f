"""What the operator sees: each group's outcome, a live line while groups run, a summary table."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

# Where a group stands. `skipped`: nothing to do (converged with these inputs, or not deployed
# for a refresh); `not started`: the fleet was stopped before its turn.
QUEUED, RUNNING, DONE, FAILED, INTERRUPTED, SKIPPED, NOT_STARTED = (
    "queued",
    "running",
    "done",
    "failed",
    "interrupted",
    "skipped",
    "not started",
)
NOT_CHANGES = {"same", "read", "refresh"}


@dataclass
class GroupOutcome:
    group: str
    state: str = QUEUED
    phase: str = ""
    changes: Counter[str] = field(default_factory=Counter)
    started: float | None = None
    finished: float | None = None
    note: str = ""
    violations: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(n for op, n in self.changes.items() if op not in NOT_CHANGES)

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.monotonic()) - self.started

    def describe_changes(self) -> str:
        parts = [f"{op} {n}" for op, n in sorted(self.changes.items()) if op not in NOT_CHANGES]
        return ", ".join(parts) or "no change"


class Display:
    """A live line (rewritten in place on a terminal, every `interval` s otherwise) and a line
    per finished group. Thread-safe: groups report from their worker threads."""

    def __init__(
        self,
        operation: str,
        outcomes: Sequence[GroupOutcome],
        stream: TextIO = sys.stderr,
        interval: float | None = None,
    ) -> None:
        self.operation = operation
        self.outcomes = outcomes
        self.stream = stream
        self.live = stream.isatty()
        self.interval = interval if interval is not None else (1.0 if self.live else 15.0)
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="fleet-progress", daemon=True)

    def __enter__(self) -> Display:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.status_line(final=True)

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.status_line()

    def counts(self) -> Counter[str]:
        return Counter(outcome.state for outcome in self.outcomes)

    def status_line(self, final: bool = False) -> None:
        counts = self.counts()
        changed = sum(outcome.changed for outcome in self.outcomes)
        elapsed = time.monotonic() - self.started
        text = (
            f"fleet {self.operation}: {counts[DONE] + counts[SKIPPED]}/{len(self.outcomes)} done, "
            f"{counts[RUNNING]} running, {counts[FAILED]} failed"
            + (f", {counts[INTERRUPTED]} interrupted" if counts[INTERRUPTED] else "")
            + f", {counts[QUEUED]} queued; {changed:,} resources changed; {elapsed:,.0f}s"
        )
        with self._lock:
            if self.live:
                self.stream.write("\r\033[K" + text + ("\n" if final else ""))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def say(self, line: str) -> None:
        with self._lock:
            prefix = "\r\033[K" if self.live else ""
            self.stream.write(f"{prefix}{line}\n")
            self.stream.flush()

    def group_finished(self, outcome: GroupOutcome) -> None:
        took = f" in {outcome.seconds:.1f}s" if outcome.seconds is not None else ""
        detail = outcome.note if outcome.state != DONE else outcome.describe_changes()
        self.say(f"{outcome.group}: {outcome.state}{took} ({detail})")


def summary_table(outcomes: Sequence[GroupOutcome]) -> str:
    rows = [("group", "result", "changes", "seconds", "note")]
    for outcome in outcomes:
        seconds = outcome.seconds
        rows.append(
            (
                outcome.group,
                outcome.state,
                outcome.describe_changes() if outcome.changes else "-",
                f"{seconds:.1f}" if seconds is not None else "-",
                outcome.note,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:4])]
        lines.append("  ".join(cells) + ("  " + row[4] if row[4] else ""))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
