"""The fleet's reader of the engine's event log file (fleet/group_stack.py): every wanted line,
whole, once; lines still being written wait for their end; the cancel event ends it."""

from __future__ import annotations

import json
import threading
from importlib.metadata import version
from pathlib import Path

import pulumi.automation as auto
import pytest
from pulumi.automation.events import EngineEvent

from fleet import group_stack
from fleet.group_stack import CHECKED_SDK_VERSION, WANTED_EVENTS, EventFileReader, GroupStack


def event_line(sequence: int, kind: str, body: dict) -> bytes:
    return (json.dumps({"sequence": sequence, "timestamp": 0, kind: body}) + "\n").encode()


POLICY_EVENT = {
    "message": "m",
    "policyName": "p",
    "policyPackName": "pk",
    "policyPackVersion": "1",
    "policyPackVersionTag": "1",
    "enforcementLevel": "mandatory",
    "color": "never",
}


def step(op: str, urn: str) -> dict:
    return {"metadata": {"op": op, "urn": urn, "type": "pulumi-python:dynamic/twilio:X"}}


def test_the_wanted_lines_of_an_up_become_events_and_the_cancel_event_ends_it(
    tmp_path: Path,
) -> None:
    log = tmp_path / "events.jsonl"
    log.touch()
    seen: list[EngineEvent] = []
    reader = EventFileReader(log, seen.append, WANTED_EVENTS["up"])
    reader.start()
    done = event_line(2, "resOutputsEvent", step("create", "urn:a"))
    with log.open("ab") as handle:
        handle.write(event_line(0, "preludeEvent", {"config": {}}))
        handle.write(event_line(1, "resourcePreEvent", step("create", "urn:a")))
        handle.write(done[:25])  # the engine is still writing this line
        handle.flush()
        handle.write(done[25:])
        handle.write(event_line(3, "diagnosticEvent", {"message": "resOutputs", "color": "never"}))
        handle.write(event_line(4, "policyEvent", POLICY_EVENT))
        handle.write(event_line(5, "summaryEvent", {"resourceChanges": {"create": 1}}))
        handle.write(event_line(6, "cancelEvent", {}))
    reader.join(timeout=10)

    assert not reader.is_alive(), "the cancel event ends the reader without being stopped"
    assert [e.res_outputs_event.metadata.urn for e in seen if e.res_outputs_event] == ["urn:a"]
    assert [e.policy_event.policy_name for e in seen if e.policy_event] == ["p"]
    assert [e.summary_event.resource_changes for e in seen if e.summary_event] == [{"create": 1}]
    # The line written in two parts arrived whole; the pre event (not read during an up), the
    # prelude and the diagnostic were not parsed.
    assert len(seen) == 3


def test_stopped_it_reads_to_the_end_of_the_file_first(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_bytes(
        event_line(0, "resourcePreEvent", step("create", "urn:b"))
        + event_line(1, "summaryEvent", {"resourceChanges": {"create": 1}})
    )
    seen: list[EngineEvent] = []
    reader = EventFileReader(log, seen.append, WANTED_EVENTS["preview"])
    reader.stop.set()  # a CLI that exited before writing its cancel event
    reader.start()
    reader.join(timeout=10)

    assert not reader.is_alive()
    assert [e.resource_pre_event.metadata.urn for e in seen if e.resource_pre_event] == ["urn:b"]
    assert len([e for e in seen if e.summary_event]) == 1


def test_a_reader_waits_for_lines_until_stopped(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.touch()
    reader = EventFileReader(log, lambda event: None, WANTED_EVENTS["up"])
    reader.start()
    finished = threading.Event()
    threading.Thread(target=lambda: (reader.join(), finished.set()), daemon=True).start()

    assert not finished.wait(0.3), "an empty log is waited on, not taken for the end"
    reader.stop.set()
    assert finished.wait(5)


def test_the_pinned_sdk_is_the_one_group_stack_was_checked_against() -> None:
    # An upgrade silently falls back to the Automation API's own Stack: re-check the overridden
    # `_setup_event_log`, `outputs` and `info` against the new SDK, then move the constant.
    assert version("pulumi") == CHECKED_SDK_VERSION


def test_on_another_sdk_release_the_automation_apis_own_stack_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_stack, "version", lambda _: "0.0.0")
    monkeypatch.setattr(auto, "LocalWorkspace", lambda **options: object())  # no CLI run
    monkeypatch.setattr(auto.Stack, "__init__", lambda self, name, workspace, mode: None)
    options = auto.LocalWorkspaceOptions(work_dir=str(tmp_path))
    stack = GroupStack.open("prod-g01", options, create=True)
    assert type(stack) is auto.Stack
