"""Interrupted runs, with the settings the README recommends for scale (state written once,
at the end of a run: PULUMI_SKIP_CHECKPOINTS=true, and a wide provider pool):

- `pulumi up` killed with SIGKILL mid-run, then the README's one recovery command,
  `scripts/resume-stack dev` (stale lock removed because its run is gone, `pulumi refresh
  --clear-pending-creates`, `pulumi up`): converges with no orphan in the emulator and no
  duplicate entry in state. The killed run recorded nothing, so this is the
  proof that find-and-adopt by identity tag makes skipping checkpoints safe. The provider
  host must not outlive the killed CLI: a provider still finishing its creates while the
  recovery runs makes twins.
- the emulator (Twilio) restarted mid-`up`: re-`up` converges.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.emulator_process import running_emulator
from tests.support.reliability import (
    PARALLEL,
    assert_exactly_declared,
    assert_no_plaintext_secrets,
    dev_workspace,
    kill_cli_only,
    kill_pids,
    start_up,
    state_view,
    still_running,
    up_until_converged,
    wait_for_route,
)
from tests.support.team_state import resume_stack

pytestmark = pytest.mark.reliability

LATENCY = ["--latency-ms", "50"]


def test_killed_up_recovers_as_documented_without_orphans(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator", extra_args=LATENCY) as emulator:
        workspace = dev_workspace(tmp_path, emulator)
        up = start_up(workspace)
        # Subaccounts, keys and numbers exist once Twilio has started creating services.
        wait_for_route(emulator, "POST /messaging/v1/Services", 2, up)
        plugins = kill_cli_only(up)
        # Pulumi starts its plugins in process groups of their own, so they would outlive
        # the CLI. Ours stop by themselves when their engine is gone: the provider host (a
        # provider still finishing its creates would race the recovery below), the language
        # host and the program it started. Nothing of ours is left after 2 s.
        assert any("provider_host.py" in command for command in plugins.values()), plugins
        assert any("language_host/host.py" in command for command in plugins.values()), plugins
        survivors = still_running(plugins, timeout=2.0)
        kill_pids({pid: plugins[pid] for pid in survivors})
        assert not survivors, {pid: plugins[pid] for pid in survivors}
        created = emulator.stats()["routes"]
        assert created.get("POST /api/2010-04-01/Accounts.json", 0) == 2
        assert created.get("POST /api/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json")

        # Nothing was checkpointed: state knows nothing of what the killed run created.
        assert not state_view(workspace).of("Subaccount")
        locked = workspace.run("up", "--yes", "--skip-preview", check=False)
        assert locked.returncode != 0 and "pulumi cancel" in locked.output
        # The documented recovery, one command, with the suite's scale settings for its `up`.
        resumed = resume_stack(workspace, "dev", "--parallel", str(PARALLEL))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "removed the stale lock of a run that is gone" in resumed.stderr, resumed.stderr
        assert "stack 'dev' resumed" in resumed.stderr, resumed.stderr

        after = emulator.stats()["routes"]
        # Adopted, not made again: still one create per subaccount.
        assert after["POST /api/2010-04-01/Accounts.json"] == 2
        assert_exactly_declared(workspace, emulator)
        workspace.run("preview", "--expect-no-changes")
        assert_no_plaintext_secrets(workspace, emulator, [tmp_path / "state", tmp_path / "tmp"])


def test_twilio_restarted_mid_up_then_up_converges(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator", extra_args=LATENCY) as emulator:
        workspace = dev_workspace(tmp_path, emulator)
        up = start_up(workspace)
        wait_for_route(emulator, "POST /messaging/v1/Services", 1, up)
        # A crash, not a shutdown: requests in flight get no answer; the database keeps what
        # was committed. The running `up` finds Twilio back on the same port (or, were the
        # port taken meanwhile, fails, and the next `up` is pointed at the new one).
        emulator.restart(hard=True)
        workspace.extra_env["TWILIO_EMULATOR_URL"] = emulator.url
        up.wait(timeout=300)

        codes = up_until_converged(workspace, 2)
        assert_exactly_declared(workspace, emulator)
        workspace.run("preview", "--expect-no-changes")
        assert_no_plaintext_secrets(workspace, emulator, [tmp_path / "state", tmp_path / "tmp"])
        assert codes[-1] == 0
