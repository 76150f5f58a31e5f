"""What the program refuses before it registers anything, through the real CLI:

- a stack file whose mapping repeats a key: `pulumi` refuses it, and the validator refuses it
  with the same words (one YAML reader with Pulumi's rules);
- real Twilio credentials behind the passphrase the README prints: one line, nothing made.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from components.secrets_guard import DOCUMENTED_LOCAL_PASSPHRASE
from tests.support.emulator_process import running_emulator
from tests.support.pulumi_cli import REPO_ROOT, PulumiWorkspace, copy_program

pytestmark = pytest.mark.e2e

DUPLICATE = re.compile(r'line (\d+): mapping key "validity_period" already defined at line (\d+)')


def test_a_duplicate_key_is_refused_alike_by_pulumi_and_the_validator(tmp_path: Path) -> None:
    project = copy_program(tmp_path / "project")
    stack_file = project / "Pulumi.dev.yaml"
    lines = stack_file.read_text().splitlines(keepends=True)
    [at] = [i for i, line in enumerate(lines) if "validity_period:" in line][:1]
    lines.insert(at + 1, lines[at])  # the same setting twice in one service
    stack_file.write_text("".join(lines))
    workspace = PulumiWorkspace(project_dir=project, state_dir=tmp_path / "state")

    refused = workspace.run("stack", "select", "--create", "dev", check=False)
    if refused.returncode == 0:
        refused = workspace.run("preview", check=False)
    validator = subprocess.run(
        [sys.executable, "-m", "architecture", "validate", str(stack_file)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )

    assert refused.returncode != 0 and validator.returncode == 1
    by_pulumi = DUPLICATE.search(refused.output)
    by_validator = DUPLICATE.search(validator.stderr)
    assert by_pulumi and by_validator, (refused.output, validator.stderr)
    assert by_pulumi.groups() == by_validator.groups() == (str(at + 2), str(at + 1))


def test_real_credentials_behind_the_documented_passphrase_stop_the_run(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator") as emulator:
        project = copy_program(tmp_path / "project")
        workspace = PulumiWorkspace(
            project_dir=project,
            state_dir=tmp_path / "state",
            extra_env={"TWILIO_EMULATOR_URL": emulator.url},
        )
        assert workspace.passphrase == DOCUMENTED_LOCAL_PASSPHRASE
        workspace.init_stack("dev")
        # The emulator path keeps working with the documented passphrase.
        workspace.run("preview")

        workspace.set_config("twilio:accountSid", "AC0123456789abcdef0123456789abcdef")
        workspace.set_config("twilio:authToken", "a-real-looking-token", secret=True)
        before = emulator.stats()["total"]
        for command in (("preview",), ("up", "--yes", "--skip-preview")):
            stopped = workspace.run(*command, check=False)
            assert stopped.returncode != 0
            # One line (Pulumi shows it where it happened and again among its diagnostics).
            lines = {
                ln.split("error: ", 1)[-1]
                for ln in stopped.output.splitlines()
                if "documented local" in ln
            }
            assert len(lines) == 1, stopped.output
            [line] = lines
            assert "twilio:authToken is configured" in line
            assert "PULUMI_CONFIG_PASSPHRASE" in line and "change-secrets-provider" in line
            assert "a-real-looking-token" not in stopped.output
        assert emulator.stats()["total"] == before
        assert not workspace.resources("pulumi-python:dynamic/twilio:Subaccount")

        # The same credentials from the environment instead of the stack config.
        workspace.run("config", "rm", "twilio:authToken")
        workspace.run("config", "rm", "twilio:accountSid")
        workspace.extra_env["TWILIO_ACCOUNT_SID"] = "AC0123456789abcdef0123456789abcdef"
        workspace.extra_env["TWILIO_AUTH_TOKEN"] = "a-real-looking-token"
        stopped = workspace.run("preview", check=False)
        assert stopped.returncode != 0
        assert "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN are set" in stopped.output
