"""Interrupted runs, with the settings the README recommends for scale (state written once,
at the end of a run: PULUMI_SKIP_CHECKPOINTS=true, and a wide provider pool):

- `pulumi up` killed with SIGKILL mid-run, then the README's one recovery command,
  `scripts/resume-stack dev` (stale lock removed because its run is gone, `pulumi refresh
  --clear-pending-creates`, `pulumi up`): converges with no orphan in the emulator and no
  duplicate entry in state. The killed run recorded nothing, so this is the
  proof that find-and-adopt by identity tag makes skipping checkpoints safe. The provider
  host must not outlive the killed CLI: a provider still finishing its creates while the
  recovery runs makes twins.
- `pulumi preview --policy-pack` killed with SIGKILL while the pack, the program and the
  provider host run: none of them is left after 2 s, also when the language host is killed
  with the CLI (its children then stop by the kernel's parent-death signal).
- the emulator (Twilio) restarted mid-`up`: re-`up` converges.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.emulator_process import running_emulator
from tests.support.pulumi_cli import REPO_ROOT, pulumi_executable
from tests.support.reliability import (
    PARALLEL,
    assert_exactly_declared,
    assert_no_plaintext_secrets,
    dev_workspace,
    kill_cli_only,
    kill_pids,
    processes_of_run,
    start_up,
    state_view,
    still_running,
    up_until_converged,
    wait_for_route,
)
from tests.support.team_state import resume_stack
from tests.support.waiting import wait_until

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


# What runs under a `pulumi preview --policy-pack` mid-way: the language host, the program it
# started, the policy pack it started, and the provider host (each matched on its command).
PLUGINS_OF_A_CHECKED_PREVIEW = {
    "language host": "language_host/host.py",
    "program": "pulumi-language-python-exec ",
    "policy pack": "-m pulumi.policy ",
    "provider host": "provider_host/provider_host.py",
}


@pytest.mark.parametrize("also_killed", ["nothing else", "the language host"])
def test_killed_preview_with_the_policy_pack_leaves_nothing_running(
    tmp_path: Path, also_killed: str
) -> None:
    # Slow answers keep the program registering (and the pack waiting) long enough to kill.
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "300"]) as emulator:
        workspace = dev_workspace(tmp_path, emulator)
        preview = subprocess.Popen(
            [
                pulumi_executable(), "preview", "--non-interactive", "--color", "never",
                "--policy-pack", str(REPO_ROOT / "policies"),
                "--policy-pack-config", str(REPO_ROOT / "policies" / "config" / "dev.json"),
            ],
            cwd=workspace.project_dir,
            env=workspace.env(),
            stdout=(tmp_path / "preview.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        plugins: dict[int, str] = {}
        try:

            def all_running() -> bool:
                assert preview.poll() is None, (tmp_path / "preview.log").read_text()
                plugins.clear()
                plugins.update(processes_of_run(preview.pid))
                commands = " | ".join(plugins.values())
                return all(mark in commands for mark in PLUGINS_OF_A_CHECKED_PREVIEW.values())

            wait_until(all_running, timeout=120, what="the pack, program and provider host")
            os.killpg(preview.pid, signal.SIGKILL)  # the CLI's own group: `kill -9 <pulumi>`
            if also_killed == "the language host":
                for pid, command in plugins.items():
                    if PLUGINS_OF_A_CHECKED_PREVIEW["language host"] in command:
                        os.kill(pid, signal.SIGKILL)
            preview.wait(timeout=10)
            survivors = still_running(plugins, timeout=2.0)
            assert not survivors, {pid: plugins[pid] for pid in survivors}
        finally:
            if preview.poll() is None:
                os.killpg(preview.pid, signal.SIGKILL)
                preview.wait(timeout=10)
            kill_pids(plugins)
