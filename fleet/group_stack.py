"""A group's stack as the fleet drives it: the Automation API's Stack, minus the two reads of
the whole state it makes after every `up` and `refresh`.

After the CLI's `up`, `Stack.up` runs `pulumi stack output --json --show-secrets` (the group's
whole state loaded, every secret in it decrypted) and `pulumi stack history --show-secrets`
(its last update again) only to fill `UpResult.outputs` and `.summary`; `refresh` runs the
second. The fleet reads neither outputs nor history from those results, only the changes per
operation, which the run's own event stream already carries in its summary event. For a group
of 100 customers (1,600 resources, a 4 MB state) that was two more CLI processes at the end of
every group and about a second of CPU (README "Operating at scale"), for nothing.

The engine's events reach the fleet (live progress, policy violations, the summary) through
a file the engine appends JSON lines to, read by one thread, and only the lines of the kinds
the fleet reads are parsed. The Automation API's own way with this CLI is a gRPC stream that
hands every event (each step's inputs and outputs included) from a server thread to Python
objects: about a second of the fleet command's CPU per group of 100 customers, most of its
own CPU in `fleet up`. The file is the API's way for older CLIs, kept as a fallback in it.

The Automation API offers no switch for either, so this subclass overrides `outputs`, `info`
and the private `_setup_event_log` of the pinned SDK (requirements.txt); the fleet's
end-to-end tests (tests/fleet) run every path through it against the real CLI. On any other
SDK release `GroupStack.open` hands out the Automation API's own Stack instead (slower, the
same results) until this module is checked against it.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pulumi.automation as auto
from pulumi.automation._stack import StackInitMode
from pulumi.automation.events import EngineEvent, SummaryEvent

# The SDK release whose private `_setup_event_log` GroupStack overrides (requirements.txt pins it).
CHECKED_SDK_VERSION = "3.272.0"
# `info` is reached only after the command succeeded: a failure raises CommandError first.
_SUCCEEDED = "succeeded"
# The event kinds the fleet reads, by command (fleet/runner.py counts a preview's announced
# steps and the done steps of the others, and keeps mandatory violations; the Automation API
# needs a preview's summary). Other lines (the other step kind, diagnostics, the prelude:
# up to half of an `up`'s 3 KB-per-step log) are not parsed.
WANTED_EVENTS = {
    "preview": ("resourcePreEvent", "policyEvent", "summaryEvent"),
    "up": ("resOutputsEvent", "policyEvent", "summaryEvent"),
    "refresh": ("resOutputsEvent", "policyEvent", "summaryEvent"),
}
EVERY_KIND = ("resourcePreEvent", "resOutputsEvent", "policyEvent", "summaryEvent")
# How long `info` waits for the reader to reach the end of a finished command's log.
SUMMARY_WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.1


class EventFileReader(threading.Thread):
    """Follows the engine's event log file to its cancel event (the engine's last), or, told
    to stop (the CLI has exited, e.g. before it wrote any), to the end of the file.

    Each complete line of a wanted kind becomes an EngineEvent for `on_event`; a line the
    engine is still writing waits for its end."""

    def __init__(
        self, path: Path, on_event: Callable[[EngineEvent], None], kinds: tuple[str, ...]
    ) -> None:
        super().__init__(name="fleet-events", daemon=True)
        self.path = path
        self.on_event = on_event
        self.stop = threading.Event()
        self._wanted = tuple(f'"{kind}"'.encode() for kind in kinds)

    def run(self) -> None:
        partial = b""
        with self.path.open("rb") as handle:
            while True:
                chunk = handle.readline()
                if chunk:
                    partial += chunk
                    if chunk.endswith(b"\n"):
                        line, partial = partial, b""
                        if b'"cancelEvent"' in line and "cancelEvent" in json.loads(line):
                            return
                        self._handle(line)
                    continue
                if self.stop.is_set():  # the CLI has exited: this end of file is the end
                    if partial:
                        self._handle(partial)
                    return
                self.stop.wait(_POLL_SECONDS)

    def _handle(self, line: bytes) -> None:
        if any(kind in line for kind in self._wanted):
            self.on_event(EngineEvent.from_json(json.loads(line)))


class GroupStack(auto.Stack):
    def __init__(self, name: str, workspace: auto.Workspace, mode: StackInitMode) -> None:
        super().__init__(name, workspace, mode)
        self._summary: SummaryEvent | None = None
        self._reader: EventFileReader | None = None
        self._command = ""  # the last command run with an event log
        self._started = datetime.now()

    @classmethod
    def open(cls, name: str, options: auto.LocalWorkspaceOptions, *, create: bool) -> auto.Stack:
        """The group's stack in a workspace of `options`, created when `create` and missing
        (as `auto.create_or_select_stack`), else selected (`auto.StackNotFoundError`); the
        Automation API's own Stack on an SDK this module was not checked against."""
        workspace = auto.LocalWorkspace(**options.__dict__)
        mode = StackInitMode.CREATE_OR_SELECT if create else StackInitMode.SELECT
        if version("pulumi") != CHECKED_SDK_VERSION:
            return auto.Stack(name, workspace, mode)
        return cls(name, workspace, mode)

    def _setup_event_log(self, command: str, on_event: Any, pulumi_version: str) -> Any:
        # Every up/preview/refresh given an event callback passes here first. The tuple is the
        # one the SDK's commands hand to its `_cleanup`: it joins the reader (5 s at most),
        # then stops it and removes the directory.
        self._summary, self._command, self._started = None, command, datetime.now()

        def keep_summary(event: EngineEvent) -> None:
            # The last one: an `up` that previews first writes the preview's summary, then
            # the update's.
            if event.summary_event is not None:
                self._summary = event.summary_event
            on_event(event)

        directory = tempfile.TemporaryDirectory(prefix=f"fleet-events-{command}-")
        path = Path(directory.name) / "events.jsonl"
        path.touch()  # the reader opens it before the engine writes a line
        reader = EventFileReader(path, keep_summary, WANTED_EVENTS.get(command, EVERY_KIND))
        reader.start()
        self._reader = reader
        return str(path), reader, reader.stop, directory, None

    def outputs(self) -> auto.OutputMap:
        """Not read back: the fleet never uses a group's outputs (UpResult.outputs is empty)."""
        return {}

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        """The summary of the run that just finished, from its own summary event; the stack's
        history only when no event stream ran (a call outside up/refresh)."""
        # The command has finished, so its log is complete: the reader ends at its last line
        # (the cancel event) within a poll or two.
        if self._reader is not None:
            self._reader.join(SUMMARY_WAIT_SECONDS)
        summary = self._summary
        if summary is None:
            return super().info(show_secrets)
        return auto.UpdateSummary(
            kind="refresh" if self._command == "refresh" else "update",
            start_time=self._started,
            message="",
            environment={},
            config={},
            result=_SUCCEEDED,
            end_time=datetime.now(),
            resource_changes=dict(summary.resource_changes),
        )
