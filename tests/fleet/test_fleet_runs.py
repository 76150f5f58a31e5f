"""`python -m fleet` through the real CLI against the emulator: 3 groups of 2 customers.

One flow per test, each on a project and emulator of its own: up (the parent's budget split
across running groups, under the emulator's per-account cap), a re-run that skips converged
groups without a Twilio call, a no-change preview, status, a failing group that does not stop
the others, a mandatory violation; Ctrl-C mid-run and the re-run that resumes; PostgreSQL
state side by side with the file backend."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.defaults import DEV_ACCOUNT_SID
from tests.fleet.support import (
    add_customers,
    fleet_env,
    fleet_project,
    interrupt,
    run_fleet,
    start_fleet,
)
from tests.support import postgres as support_postgres
from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.postgres import fresh_database, pulumi_backend_url, pulumi_state_rows
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
postgres_server = support_postgres.postgres_server

CUSTOMERS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
GROUPS = ["prod-g01", "prod-g02", "prod-g03"]
PARENT_BUDGET = 6


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    args = ["--latency-ms", "50", "--account-concurrency-limit", str(PARENT_BUDGET)]
    with running_emulator(tmp_path / "emulator", extra_args=args) as emu:
        yield emu


def estate(emulator: EmulatorProcess) -> tuple[list[str], int]:
    """Friendly names of the active subaccounts, and how many numbers they hold."""
    client = emulator.client()
    accounts = [
        a
        for a in client.api.v2010.accounts.list()
        if a.sid != DEV_ACCOUNT_SID and a.status == "active"
    ]
    numbers = sum(
        len(emulator.client(account_sid=a.sid).api.v2010.account.incoming_phone_numbers.list())
        for a in accounts
    )
    return sorted(a.friendly_name for a in accounts), numbers


def summary_rows(output: str) -> dict[str, str]:
    """group -> result, from the summary table."""
    rows = {}
    for line in output.splitlines():
        cells = line.split()
        if len(cells) >= 2 and cells[0] in GROUPS:
            rows[cells[0]] = cells[1] if cells[1] != "not" else "not started"
    return rows


def processes_working_in(directory: Path) -> list[int]:
    """PIDs whose working directory is `directory`: the engines and programs of a run."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == directory:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def assert_converged_once(emulator: EmulatorProcess) -> None:
    names, numbers = estate(emulator)
    assert len(names) == len(CUSTOMERS) == len(set(names)), names  # no twins
    assert numbers == 4 * len(CUSTOMERS)


def test_up_rerun_preview_status_and_a_failing_group(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = fleet_project(tmp_path / "project")
    env = fleet_env(tmp_path / "state", emulator.url)
    assert add_customers(project, CUSTOMERS, env) == [g for g in GROUPS for _ in (1, 2)]

    up = run_fleet(
        project, "up", "--concurrency", "2", "--parent-in-flight", str(PARENT_BUDGET), env=env
    )
    assert up.returncode == 0, up.stderr + up.stdout
    assert summary_rows(up.stdout) == dict.fromkeys(GROUPS, "done")
    assert "3 per running group" in up.stderr
    stats = emulator.stats()
    # Two groups at once, 3 each: the parent's 6 never exceeded, nothing refused.
    assert stats["over_concurrency"] == {}
    assert stats["in_flight_peak"][DEV_ACCOUNT_SID] <= PARENT_BUDGET
    assert_converged_once(emulator)

    calls = emulator.stats()["total"]
    again = run_fleet(project, "up", env=env)
    assert again.returncode == 0, again.stderr
    assert summary_rows(again.stdout) == dict.fromkeys(GROUPS, "skipped")
    assert "converged with these inputs" in again.stdout
    preview = run_fleet(project, "preview", env=env)
    assert preview.returncode == 0, preview.stderr
    assert summary_rows(preview.stdout) == dict.fromkeys(GROUPS, "done")
    assert preview.stdout.count("no change") == 3
    assert emulator.stats()["total"] == calls  # neither made a Twilio call

    status = run_fleet(project, "status", env=env)
    assert status.returncode == 0, status.stderr
    assert [line.split()[0] for line in status.stdout.splitlines() if "converged" in line] == GROUPS

    # g02's guardrails are weakened (refused before the CLI); g01 and g03 change a name.
    (project / "policies" / "config" / "prod-g02.json").write_text(
        '{"no-sending-from-parent": {"enforcementLevel": "advisory"}}'
    )
    for group, old in (("prod-g01", "Alpha"), ("prod-g03", "Echo")):
        path = project / f"Pulumi.{group}.yaml"
        path.write_text(
            path.read_text().replace(f"display_name: {old}", f"display_name: {old} Inc")
        )
    failing = run_fleet(project, "up", env=env)
    assert failing.returncode == 1, failing.stderr
    assert summary_rows(failing.stdout) == {
        "prod-g01": "done",
        "prod-g02": "failed",
        "prod-g03": "done",
    }
    reason = next(line for line in failing.stderr.splitlines() if "prod-g02 failed:" in line)
    assert "prod-g02.json" in reason and "no-sending-from-parent" in reason
    assert "failed groups: prod-g02" in failing.stderr
    names, _ = estate(emulator)
    assert any(name.startswith("Alpha Inc") for name in names)

    # A stricter rule in g03's own config: the pack's mandatory violation fails its preview.
    (project / "policies" / "config" / "prod-g02.json").unlink()
    (project / "policies" / "config" / "prod-g03.json").write_text(
        '{"sender-pool-limits": {"enforcementLevel": "mandatory", "max_senders": 1}}'
    )
    violated = run_fleet(project, "preview", "--groups", "prod-g02,prod-g03", env=env)
    assert violated.returncode == 1, violated.stderr
    assert summary_rows(violated.stdout) == {"prod-g02": "done", "prod-g03": "failed"}
    assert "prod-g03 failed: [mandatory] sender-pool-limits" in violated.stderr
    # `fleet up --preview-first` runs the pack before any step: the violating group changes
    # nothing (its inputs changed, so it is not skipped as converged).
    writes = emulator.stats()["writes"]
    stopped = run_fleet(project, "up", "--groups", "prod-g03", "--preview-first", env=env)
    assert stopped.returncode == 1, stopped.stderr
    assert "prod-g03 failed: [mandatory] sender-pool-limits" in stopped.stderr
    assert emulator.stats()["writes"] == writes


def test_ctrl_c_stops_cleanly_and_the_rerun_resumes(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    emulator.set_faults(latency_ms=250)  # long enough to be mid-run when Ctrl-C comes
    project = fleet_project(tmp_path / "project")
    env = fleet_env(tmp_path / "state", emulator.url)
    add_customers(project, CUSTOMERS, env)
    log = tmp_path / "fleet-up.log"
    fleet = start_fleet(project, "up", "--concurrency", "2", env=env, log=log)
    try:
        wait_until(
            lambda: emulator.stats()["writes"] >= 6 or fleet.poll() is not None,
            timeout=300,
            what="the fleet's first creates",
        )
        assert fleet.poll() is None, log.read_text()
        interrupt(fleet)
        assert fleet.wait(timeout=300) == 130, log.read_text()
    finally:
        if fleet.poll() is None:
            fleet.send_signal(signal.SIGKILL)
            fleet.wait()
    output = log.read_text()
    rows = summary_rows(output)
    assert rows["prod-g03"] == "not started", output
    assert {rows["prod-g01"], rows["prod-g02"]} <= {"interrupted", "done"}, output
    assert "stopped by Ctrl-C" in output and "run the same command again" in output
    # The engines were told once (graceful): they saved their state and released their locks.
    assert not list((tmp_path / "state" / "backend").rglob(".pulumi/locks/**/*.json")), output
    assert processes_working_in(project) == [], "processes of the stopped run still run"

    resumed = run_fleet(project, "up", "--concurrency", "2", env=env)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert summary_rows(resumed.stdout)["prod-g03"] == "done"
    assert_converged_once(emulator)
    preview = run_fleet(project, "preview", env=env)
    assert preview.returncode == 0 and preview.stdout.count("no change") == 3, preview.stdout


def test_groups_side_by_side_on_postgres_state(
    tmp_path: Path, emulator: EmulatorProcess, postgres_server: str
) -> None:
    project = fleet_project(tmp_path / "project")
    with fresh_database(postgres_server, "fleet_state") as database:
        env = fleet_env(
            tmp_path / "state", emulator.url, PULUMI_BACKEND_URL=pulumi_backend_url(database)
        )
        add_customers(project, CUSTOMERS[:4], env)
        up = run_fleet(project, "up", "--concurrency", "2", env=env)
        assert up.returncode == 0, up.stderr + up.stdout
        assert summary_rows(up.stdout) == {"prod-g01": "done", "prod-g02": "done"}
        keys = [key for key in pulumi_state_rows(database) if "/stacks/" in key]
        assert any(k.endswith("prod-g01.json") for k in keys), keys
        assert any(k.endswith("prod-g02.json") for k in keys), keys
        assert not (tmp_path / "state" / "backend").exists()
        status = run_fleet(project, "status", env=env)
        assert status.stdout.count("converged") == 2, status.stdout + status.stderr
        calls = emulator.stats()["total"]
        refresh = run_fleet(project, "refresh", env=env)
        assert refresh.returncode == 0, refresh.stderr + refresh.stdout
        assert summary_rows(refresh.stdout) == {"prod-g01": "done", "prod-g02": "done"}
        assert refresh.stdout.count("no change") == 2
        assert emulator.stats()["total"] > calls  # a refresh reads every object back


def test_a_group_killed_mid_run_is_resumed_by_the_next_up(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    emulator.set_faults(latency_ms=250)
    project = fleet_project(tmp_path / "project")
    env = fleet_env(tmp_path / "state", emulator.url)
    add_customers(project, CUSTOMERS[:2], env)
    log = tmp_path / "fleet-up.log"
    fleet = start_fleet(project, "up", env=env, log=log)
    wait_until(
        lambda: emulator.stats()["writes"] >= 6 or fleet.poll() is not None,
        timeout=300,
        what="the group's first creates",
    )
    assert fleet.poll() is None, log.read_text()
    # A crash, not a Ctrl-C: the fleet, the group's engine and its program die at once.
    os.killpg(fleet.pid, signal.SIGKILL)
    for pid in processes_working_in(project):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    fleet.wait()
    wait_until(lambda: not processes_working_in(project), timeout=30, what="the run's exit")
    locks = list((tmp_path / "state" / "backend").rglob(".pulumi/locks/**/*.json"))
    assert locks, "the killed run left no lock: the kill came too late to test anything"

    resumed = run_fleet(project, "up", env=env)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert "prod-g01: removed the stale lock of a run that is gone" in resumed.stderr
    assert "resumed: refreshed with --clear-pending-creates first" in resumed.stdout
    names, numbers = estate(emulator)
    assert len(names) == len(set(names)) == 2 and numbers == 8, names  # adopted, no twins
    preview = run_fleet(project, "preview", env=env)
    assert preview.returncode == 0 and "no change" in preview.stdout, preview.stdout


def test_catalog_groups_converge_and_a_catalog_edit_reruns_only_its_group(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    # The shipped fleet.yaml's layout: each group's customers in catalogs/<group>.yaml.
    project = fleet_project(tmp_path / "project", catalogs=True)
    env = fleet_env(tmp_path / "state", emulator.url)
    customers = CUSTOMERS[:3]
    assert add_customers(project, customers, env) == ["prod-g01", "prod-g01", "prod-g02"]
    assert (project / "catalogs" / "prod-g02.yaml").is_file()

    up = run_fleet(project, "up", "--parent-in-flight", str(PARENT_BUDGET), env=env)
    assert up.returncode == 0, up.stderr + up.stdout
    assert summary_rows(up.stdout) == dict.fromkeys(GROUPS[:2], "done")
    names, numbers = estate(emulator)
    assert len(names) == len(customers) and numbers == 4 * len(customers)

    catalog = project / "catalogs" / "prod-g02.yaml"
    catalog.write_text(catalog.read_text().replace("display_name: Charlie", "display_name: C Co"))
    rerun = run_fleet(project, "up", env=env)
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    assert summary_rows(rerun.stdout) == {"prod-g01": "skipped", "prod-g02": "done"}
    names, _ = estate(emulator)
    assert any(name.startswith("C Co") for name in names), names

    calls = emulator.stats()["total"]
    preview = run_fleet(project, "preview", env=env)
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.count("no change") == 2
    assert emulator.stats()["total"] == calls
