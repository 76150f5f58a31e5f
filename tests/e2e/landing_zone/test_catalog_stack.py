"""A stack whose tenants live in a catalog file (`twilio-landing-zone:catalog`), through the
real CLI: an estate deployed from an inline stack file keeps every resource when its tenants
move to a catalog (no replace, no update of any Twilio object), and the catalog stack then
previews with no change at all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.emulator_process import running_emulator
from tests.support.pulumi_cli import REPO_ROOT, PulumiWorkspace, copy_program

pytestmark = pytest.mark.e2e

ARCH_KEY = "twilio-landing-zone:architecture"
CATALOG = "catalogs/prod.yaml"


def move_tenants_to_a_catalog(project: Path) -> None:
    stack_file = project / "Pulumi.prod.yaml"
    document = yaml.safe_load(stack_file.read_text())
    tenants = document["config"][ARCH_KEY].pop("tenants")
    document["config"]["twilio-landing-zone:catalog"] = CATALOG
    (project / "catalogs").mkdir()
    (project / CATALOG).write_text(yaml.safe_dump({"tenants": tenants}, sort_keys=False))
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))


def planned_steps(output: str) -> dict[str, int]:
    """The preview's summary: `N to update`, `N to replace`, `N unchanged`, ..."""
    return {kind: int(count) for count, kind in re.findall(r"(\d+) (to \w+|unchanged)", output)}


def plain(outputs: dict) -> dict:
    secret = "4dabf18193072939515e22adb298388d"  # Pulumi's signature of a secret value
    return {
        key: "[secret]" if isinstance(value, dict) and secret in value else value
        for key, value in outputs.items()
    }


def test_moving_tenants_to_a_catalog_changes_no_twilio_object(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator") as emulator:
        project = copy_program(tmp_path / "project")
        workspace = PulumiWorkspace(
            project_dir=project,
            state_dir=tmp_path / "state",
            extra_env={"TWILIO_EMULATOR_URL": emulator.url, "PULUMI_SKIP_CHECKPOINTS": "true"},
        )
        workspace.init_stack("prod")
        workspace.run("up", "--yes", "--skip-preview")
        deployed = {r["urn"]: r for r in workspace.resources() if "dynamic" in r["type"]}
        assert len(deployed) > 20

        move_tenants_to_a_catalog(project)
        validated = subprocess.run(
            [sys.executable, "-m", "architecture", "validate", str(project / "Pulumi.prod.yaml")],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        assert validated.returncode == 0, validated.stderr
        assert "valid (twilio-landing-zone/prod, 3 accounts" in validated.stdout

        calls_before = emulator.stats()["total"]
        moved = workspace.run("preview", "--diff")
        steps = planned_steps(moved.output)
        # Only Pulumi's default provider for dynamic resources changes: its inputs are the
        # stack's config, now without the tenants. Every Twilio object is unchanged.
        assert "to replace" not in steps and "to create" not in steps, moved.output
        assert "to delete" not in steps, moved.output
        assert steps.get("to update", 0) <= 1, moved.output
        updated = re.findall(r"^\s*~ (\S+) ", moved.output, flags=re.MULTILINE)
        assert set(updated) <= {"pulumi:providers:pulumi-python"}, moved.output
        assert steps["unchanged"] >= len(deployed)

        workspace.run("up", "--yes")
        after = {r["urn"]: r for r in workspace.resources() if "dynamic" in r["type"]}
        assert after.keys() == deployed.keys()
        assert all(after[urn]["id"] == deployed[urn]["id"] for urn in deployed)
        # Outputs as they were (secrets compared by presence: each write encrypts them anew).
        assert {urn: plain(r["outputs"]) for urn, r in after.items()} == {
            urn: plain(r["outputs"]) for urn, r in deployed.items()
        }

        again = workspace.run("preview")
        assert set(planned_steps(again.output)) == {"unchanged"}, again.output
        assert emulator.stats()["total"] == calls_before  # previews ask Twilio nothing
