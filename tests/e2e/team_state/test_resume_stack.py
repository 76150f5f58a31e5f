"""The SIGKILL suite of the re-run command: `pulumi up` killed mid-way (CLI, program and
provider, as a crash or a cancelled CI job does), then `scripts/resume-stack dev`, the one
command the README documents, on both backends. And the command refusing, changing nothing,
while a live engine holds the lock.

What a killed run leaves: its lock (the file backend's lock file, PostgreSQL's lock row),
pending operations in the checkpoint when checkpoints are written per step, and, on the file
backend only, possibly an emptied checkpoint (the kill landed during the rewrite; reproduced
here by emptying it, as the README's `.bak` step describes). A PostgreSQL checkpoint is one
row written by one statement: it always parses after a kill."""

from __future__ import annotations

import json

import pytest

from tests.support.emulator_process import EmulatorProcess
from tests.support.postgres import pulumi_backend_url, pulumi_state_rows
from tests.support.pulumi_cli import PulumiWorkspace
from tests.support.reliability import (
    assert_exactly_declared,
    kill_run,
    wait_for_route,
)
from tests.support.team_state import (
    file_locks,
    make_workspace,
    postgres_locks,
    resume_stack,
    start_up,
    up_output,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.reliability, pytest.mark.postgres]

SERVICES_CREATED = "POST /messaging/v1/Services"
SKIP_CHECKPOINTS = {"PULUMI_SKIP_CHECKPOINTS": "true", "TLZ_PROVIDER_WORKERS": "64"}


def killed_mid_up(workspace: PulumiWorkspace, emulator: EmulatorProcess) -> int:
    """Kill a running `up` once Twilio has started creating services (subaccounts, keys and
    numbers exist by then); the killed CLI's pid."""
    up = start_up(workspace)
    wait_for_route(emulator, SERVICES_CREATED, 2, up)
    kill_run(up)
    return up.pid


def assert_resumed(workspace: PulumiWorkspace, emulator: EmulatorProcess) -> None:
    result = resume_stack(workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed the stale lock of a run that is gone" in result.stderr
    # Adopted, not made again: one create per subaccount in all.
    assert emulator.stats()["routes"]["POST /api/2010-04-01/Accounts.json"] == 2
    assert_exactly_declared(workspace, emulator)
    workspace.run("preview", "--expect-no-changes")


@pytest.mark.parametrize("checkpoints", ["per-step", "skipped"])
def test_killed_up_with_state_in_postgres_resumes_with_one_command(
    tmp_path, emulator: EmulatorProcess, state_database: str, checkpoints: str
) -> None:
    extra = SKIP_CHECKPOINTS if checkpoints == "skipped" else {}
    workspace = make_workspace(
        tmp_path, "dev", emulator, pulumi_backend_url(state_database), extra_env=extra
    )
    workspace.init_stack("dev")
    pid = killed_mid_up(workspace, emulator)

    # Left behind: the lock row of the dead run, and a checkpoint row that parses.
    [holder] = postgres_locks(state_database).values()
    assert holder["pid"] == pid
    rows = pulumi_state_rows(state_database)
    [key] = [k for k in rows if k.endswith("/.pulumi/stacks/twilio-landing-zone/dev.json")]
    json.loads(rows[key])
    refused = workspace.run("up", "--yes", "--skip-preview", check=False)
    assert refused.returncode != 0 and f"(pid {pid})" in refused.output

    assert_resumed(workspace, emulator)
    assert not postgres_locks(state_database)


def test_killed_up_with_file_backend_and_emptied_checkpoint_resumes(
    tmp_path, emulator: EmulatorProcess
) -> None:
    workspace = make_workspace(tmp_path, "dev", emulator, None)
    workspace.init_stack("dev")
    pid = killed_mid_up(workspace, emulator)
    [holder] = file_locks(workspace).values()
    assert holder["pid"] == pid
    # A kill during the rewrite leaves the checkpoint empty (`failed to load checkpoint: EOF`).
    [checkpoint] = (workspace.state_dir / "backend").rglob("stacks/*/dev.json")
    checkpoint.write_bytes(b"")
    broken = workspace.run("stack", "export", check=False)
    assert broken.returncode != 0

    result = resume_stack(workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "was emptied by the kill: put back" in result.stderr
    json.loads(checkpoint.read_bytes())
    assert_exactly_declared(workspace, emulator)
    workspace.run("preview", "--expect-no-changes")
    assert not file_locks(workspace)


def test_killed_up_with_file_backend_and_emptied_metadata_resumes(
    tmp_path, emulator: EmulatorProcess
) -> None:
    workspace = make_workspace(tmp_path, "dev", emulator, None)
    workspace.init_stack("dev")
    killed_mid_up(workspace, emulator)
    # The blob library renames a finished checkpoint into place but writes its `.attrs`
    # sidecar in place: a kill during that write leaves the sidecar empty, and the intact
    # checkpoint can no longer be loaded.
    [checkpoint] = (workspace.state_dir / "backend").rglob("stacks/*/dev.json")
    checkpoint.with_name("dev.json.attrs").write_bytes(b"")
    broken = workspace.run("stack", "export", check=False)
    assert broken.returncode != 0 and "EOF" in broken.output

    result = resume_stack(workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dev.json.attrs was emptied by the kill: removed it" in result.stderr
    assert_exactly_declared(workspace, emulator)
    workspace.run("preview", "--expect-no-changes")
    assert not file_locks(workspace)


@pytest.mark.parametrize("backend", ["postgres", "file"])
def test_resume_refuses_while_a_live_engine_holds_the_lock(
    tmp_path, emulator: EmulatorProcess, postgres_server: str, backend: str, request
) -> None:
    if backend == "postgres":
        database = request.getfixturevalue("state_database")
        workspace = make_workspace(tmp_path, "dev", emulator, pulumi_backend_url(database))

        def locks() -> dict:
            return postgres_locks(database)
    else:
        workspace = make_workspace(tmp_path, "dev", emulator, None)

        def locks() -> dict:
            return file_locks(workspace)

    workspace.init_stack("dev")
    up = start_up(workspace)
    wait_until(locks, "the running up's lock", up)

    result = resume_stack(workspace)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"locked by a running pulumi (pid {up.pid}," in lines[0]
    assert "nothing was changed" in lines[0]
    assert result.stdout == ""
    # The running up keeps its lock and finishes undisturbed.
    if up.poll() is None:
        assert locks()
    assert up.wait(timeout=600) == 0, up_output(up)
    assert_exactly_declared(workspace, emulator)
