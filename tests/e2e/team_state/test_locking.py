"""Locking with state in PostgreSQL, as Pulumi v3.274.1 implements it for DIY backends: a run
lists the stack's lock rows, writes its own (`{pid, username, hostname, timestamp}`), lists
again, and gives up (deleting its own) if another is there. It never waits. So two `up`s of
one stack never both proceed, the refused one names the holder, and nothing is corrupted;
two different stacks run side by side without noticing each other."""

from __future__ import annotations

import json
import re
import threading

import pytest

from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.postgres import pulumi_backend_url, pulumi_state_rows
from tests.support.pulumi_cli import PulumiWorkspace
from tests.support.reliability import assert_exactly_declared
from tests.support.team_state import (
    make_workspace,
    postgres_locks,
    start_up,
    up_output,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

LOCKED = "the stack is currently locked by 1 lock(s)"
# An update's summary lines: `+ 34 created`, `34 unchanged`.
CREATED = re.compile(r"^\s*\+ \d+ created$", re.MULTILINE)
UNCHANGED = re.compile(r"^\s*\d+ unchanged$", re.MULTILINE)


def assert_state_parses(database_url: str) -> None:
    for key, blob in pulumi_state_rows(database_url).items():
        if key.endswith(".json"):
            json.loads(blob)


def test_an_up_is_refused_while_another_holds_the_lock(
    team_dev: PulumiWorkspace, emulator: EmulatorProcess, state_database: str
) -> None:
    first = start_up(team_dev)
    lock = wait_until(lambda: postgres_locks(state_database), "the first run's lock", first)
    [holder] = lock.values()
    assert holder["pid"] == first.pid

    second = team_dev.run("up", "--yes", "--skip-preview", check=False)
    assert second.returncode != 0
    # The refusal names the holder: user@host and the first run's pid.
    assert LOCKED in second.output
    assert f"created by {holder['username']}@{holder['hostname']} (pid {first.pid})" in (
        second.output
    )
    assert first.wait(timeout=600) == 0, up_output(first)

    assert_state_parses(state_database)
    assert not postgres_locks(state_database)
    team_dev.run("up", "--yes", "--skip-preview")
    team_dev.run("preview", "--expect-no-changes")
    assert_exactly_declared(team_dev, emulator)


def test_two_ups_started_together_never_both_proceed(
    team_dev: PulumiWorkspace, emulator: EmulatorProcess, state_database: str
) -> None:
    runs = []
    barrier = threading.Barrier(2)

    def launch() -> None:
        barrier.wait()
        runs.append(start_up(team_dev))

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = [run.wait(timeout=600) for run in runs]
    outputs = [up_output(run) for run in runs]
    # Started together, the two CLIs still reach the lock at their own pace: on a loaded
    # machine one may take it only after the other has finished (a 3-second up). Then both
    # succeed, and the later one must have found the earlier one's state: nothing to create.
    # What must never happen is two runs creating the estate side by side.
    creating = [output for output in outputs if CREATED.search(output)]
    assert len(creating) <= 1, outputs
    for code, output in zip(codes, outputs, strict=True):
        if code != 0:
            # Refused by the lock check (both may be, when each saw the other's lock row).
            assert refused_by_lock(output), output
        elif not CREATED.search(output):
            assert UNCHANGED.search(output), output

    assert_state_parses(state_database)
    assert not postgres_locks(state_database)
    team_dev.run("up", "--yes", "--skip-preview")
    team_dev.run("preview", "--expect-no-changes")
    assert_exactly_declared(team_dev, emulator)


def refused_by_lock(output: str) -> bool:
    """The CLI's refusal: it names the other run's lock (user@host, pid), or, when that lock was
    deleted between the CLI listing the locks and reading one (the other run gave up or
    finished meanwhile; `checkForLock` in pkg/backend/diy/lock.go returns that read's error),
    the missing lock key."""
    named = "the stack is currently locked" in output and "(pid " in output
    vanished = "/locks/" in output and "key not found" in output
    return named or vanished


def test_two_stacks_run_side_by_side(
    tmp_path, team_dev: PulumiWorkspace, emulator: EmulatorProcess, state_database: str
) -> None:
    # A teammate's checkout, its own emulator (Twilio account), the same state database.
    with running_emulator(tmp_path / "emulator-prod", extra_args=["--latency-ms", "50"]) as other:
        prod = make_workspace(tmp_path, "prod", other, pulumi_backend_url(state_database))
        prod.init_stack("prod")
        runs = [start_up(team_dev), start_up(prod)]
        codes = [run.wait(timeout=600) for run in runs]
        assert codes == [0, 0], [up_output(run) for run in runs]
        prod.run("preview", "--expect-no-changes")
    team_dev.run("preview", "--expect-no-changes")
    assert_exactly_declared(team_dev, emulator)

    stacks = {k.rsplit("/", 1)[1] for k in pulumi_state_rows(state_database) if "/stacks/" in k}
    assert {"dev.json", "prod.json"} <= stacks
    assert_state_parses(state_database)
    assert not postgres_locks(state_database, "dev") and not postgres_locks(state_database, "prod")
