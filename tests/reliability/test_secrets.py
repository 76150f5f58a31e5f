"""Secrets after everything at once: throttling and server errors, a killed `up`, Twilio
restarted under the recovery that the README documents (`scripts/resume-stack`). No auth
token (the parent's or a subaccount's) and no API key secret appears in plain text, nor in a
Basic-auth header, in state files (backups and history included), CLI output, Pulumi's logs
and temp files, the provider host's records, or the stack's exported outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.emulator_process import running_emulator
from tests.support.reliability import (
    PARALLEL,
    assert_exactly_declared,
    assert_no_plaintext_secrets,
    dev_workspace,
    kill_run,
    start_up,
    up_until_converged,
    wait_for_route,
)
from tests.support.team_state import start_resume_stack

pytestmark = pytest.mark.reliability


def test_no_secret_in_plain_text_after_faults_kill_and_restart(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "20"]) as emulator:
        workspace = dev_workspace(tmp_path, emulator)
        # The provider host records every call (type, timings) where the search looks.
        emulator.set_faults(rate_429=0.2, rate_5xx=0.05, seed=9)

        first = start_up(workspace)
        wait_for_route(emulator, "POST /iam/v1/Keys", 1, first)
        kill_run(first)

        # The one recovery command (stale lock, refresh, up); Twilio crashes under its `up`.
        services = emulator.stats()["routes"].get("POST /messaging/v1/Services", 0)
        second = start_resume_stack(workspace, "dev", "--parallel", str(PARALLEL))
        wait_for_route(emulator, "POST /messaging/v1/Services", services + 1, second)
        emulator.restart(hard=True)  # faults are run-time settings: the new process has none
        workspace.extra_env["TWILIO_EMULATOR_URL"] = emulator.url
        emulator.set_faults(rate_429=0.2, rate_5xx=0.05, seed=10)
        second.wait(timeout=300)

        up_until_converged(workspace, 3)
        emulator.set_faults(rate_429=0.0, rate_5xx=0.0)
        assert_exactly_declared(workspace, emulator)
        workspace.run("refresh", "--yes", "--skip-preview")

        stack_file = workspace.project_dir / "Pulumi.dev.yaml"
        searched = assert_no_plaintext_secrets(
            workspace, emulator, [tmp_path / "state", tmp_path / "tmp", stack_file]
        )
        # The search covered the state file and the killed runs' logs.
        assert searched >= 10
        files = {p.name for p in (tmp_path / "state").rglob("*") if p.is_file()}
        assert "dev.json" in files and any(name.startswith("up-") for name in files)
        assert any(name.startswith("resume-") for name in files)
