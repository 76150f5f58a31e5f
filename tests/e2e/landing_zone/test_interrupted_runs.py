"""An interrupted `pulumi up` is re-run safely, as the README documents: `pulumi cancel` (the
file backend's lock), `pulumi refresh --clear-pending-creates` (creates whose answer the engine
never saw), `pulumi up`. It converges with no twin in Twilio and no duplicate entry in state,
because every create first looks for the object carrying its identity tag and adopts it."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from identity_tags import parse_tag
from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.estate import estate
from tests.support.pulumi_cli import PulumiWorkspace, copy_program, pulumi_executable
from tests.support.reliability import kill_run
from tests.support.team_state import resume_stack

pytestmark = pytest.mark.e2e


def assert_converged(workspace: PulumiWorkspace, emulator: EmulatorProcess) -> None:
    accounts = estate(emulator)
    tags = Counter(parse_tag(a.friendly_name) for a in accounts.values())
    assert len(tags) == 2 and set(tags.values()) == {1}, tags
    for account in accounts.values():
        assert account.status == "active"
        ours = [s for s in account.services if parse_tag(s.friendly_name)]
        assert len({parse_tag(s.friendly_name) for s in ours}) == len(ours)
        assert len({parse_tag(k) for k in account.keys}) == len(account.keys) == 1
        pooled = set().union(*(s.phone_number_sids for s in ours))
        assert pooled == set(account.numbers), "a number outside any pool is an orphan"
    assert sum(len(a.numbers) for a in accounts.values()) == 7
    deployment = json.loads(workspace.run("stack", "export").output)["deployment"]
    urns = Counter(resource["urn"] for resource in deployment["resources"])
    assert max(urns.values()) == 1, "duplicate state entries"
    assert not deployment.get("pending_operations")


def test_killed_up_then_cancel_and_up_converges_without_twins(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "100"]) as emulator:
        workspace = PulumiWorkspace(
            project_dir=copy_program(tmp_path / "project"),
            state_dir=tmp_path / "state",
            extra_env={"TWILIO_EMULATOR_URL": emulator.url},
        )
        workspace.init_stack("dev")
        up = subprocess.Popen(
            [pulumi_executable(), "up", "--yes", "--skip-preview", "--non-interactive"],
            cwd=workspace.project_dir,
            env=workspace.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Kill the whole run (CLI, program, provider) once Twilio has started creating
        # messaging services: subaccounts, keys and numbers already exist by then.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            routes = emulator.stats()["routes"]
            if routes.get("POST /messaging/v1/Services", 0) >= 2:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the run never reached the messaging services")
        # A crash takes the CLI and its plugins (own process groups) down together.
        kill_run(up)

        locked = workspace.run("up", "--yes", "--skip-preview", check=False)
        assert locked.returncode != 0
        # The lock of the dead run, or (a kill during the file backend's metadata write) a
        # checkpoint that no longer loads: the README's one re-run command handles both.
        assert "pulumi cancel" in locked.output or "failed to load checkpoint" in locked.output
        resumed = resume_stack(workspace)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert_converged(workspace, emulator)
        workspace.run("preview", "--expect-no-changes")
