"""`PULUMI_BACKEND_URL=postgres://…` works for the commands the project offers: the make
targets (`stack`, `policy-check`, `resume`), `scripts/policy-check`, and the Automation API
(what the benchmark and the fleet drive). The file backend stays the default: none of these
runs touches the checkout's `.state/backend`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.emulator_process import EmulatorProcess
from tests.support.postgres import pulumi_backend_url, pulumi_state_rows
from tests.support.pulumi_cli import BIN_DIR, REPO_ROOT, VENV_DIR, copy_program
from tests.support.reliability import assert_exactly_declared
from tests.support.team_state import make_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def stacks_in(database_url: str) -> set[str]:
    prefix = "/.pulumi/stacks/twilio-landing-zone/"
    return {
        key.rsplit("/", 1)[1].removesuffix(".json")
        for key in pulumi_state_rows(database_url)
        if prefix in key and key.endswith(".json")
    }


def checkout_env(tmp_path: Path, backend_url: str, emulator: EmulatorProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "TWILIO_"))}
    env |= {
        "PULUMI_BACKEND_URL": backend_url,
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "TWILIO_EMULATOR_URL": emulator.url,
        "NO_COLOR": "1",
    }
    return env


def make(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-C", str(REPO_ROOT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_make_targets_and_policy_check_use_the_postgres_backend(
    tmp_path: Path, emulator: EmulatorProcess, state_database: str
) -> None:
    env = checkout_env(tmp_path, pulumi_backend_url(state_database), emulator)
    file_backend = REPO_ROOT / ".state" / "backend" / ".pulumi" / "stacks"
    before = sorted(file_backend.rglob("*")) if file_backend.exists() else []

    checked = make(env, "policy-check", "STACK=prod")  # `stack` creates it first
    assert checked.returncode == 0, checked.stdout + checked.stderr
    direct = subprocess.run(
        [str(REPO_ROOT / "scripts" / "policy-check"), "prod"],
        env=env
        | {
            "PATH": f"{BIN_DIR}:{VENV_DIR / 'bin'}:{env['PATH']}",
            "PULUMI_CONFIG_PASSPHRASE": "twilio-landing-zone-local",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert direct.returncode == 0, direct.stdout + direct.stderr

    # `make resume` on a stack no run has touched yet: refresh (nothing), then up, guarded.
    made = make(env, "stack", "STACK=dev")
    assert made.returncode == 0, made.stderr
    resumed = make(env, "resume", "STACK=dev")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "--policy-pack" in resumed.stderr
    assert stacks_in(state_database) == {"dev", "prod"}
    after = sorted(file_backend.rglob("*")) if file_backend.exists() else []
    assert after == before, "a run with PULUMI_BACKEND_URL=postgres:// wrote to the file backend"

    # What `make resume` made is the declared dev estate.
    workspace = make_workspace(tmp_path, "check", emulator, pulumi_backend_url(state_database))
    workspace.run("stack", "select", "dev")
    assert_exactly_declared(workspace, emulator)


def test_automation_api_with_state_in_postgres(
    tmp_path: Path,
    emulator: EmulatorProcess,
    state_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pulumi import automation as auto

    monkeypatch.setenv("PATH", f"{BIN_DIR}:{VENV_DIR / 'bin'}:{os.environ['PATH']}")
    project = copy_program(tmp_path / "project")
    env = {
        "PULUMI_BACKEND_URL": pulumi_backend_url(state_database),
        "PULUMI_CONFIG_PASSPHRASE": "twilio-landing-zone-local",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "TWILIO_EMULATOR_URL": emulator.url,
        "PULUMI_SKIP_CHECKPOINTS": "true",
    }
    options = auto.LocalWorkspaceOptions(
        work_dir=str(project),
        pulumi_home=str(tmp_path / "pulumi-home"),
        env_vars=env,
        secrets_provider="passphrase",
    )
    stack = auto.create_or_select_stack("dev", work_dir=str(project), opts=options)
    result = stack.up(parallel=64)
    assert result.summary.result == "succeeded"
    preview = stack.preview()
    assert set(preview.change_summary) == {"same"}, preview.change_summary
    assert "dev" in stacks_in(state_database)
    assert stack.outputs()["api_key_secrets"].secret
