"""The estate `make demo` builds, audited: the dev stack through the real `pulumi up` with the
policy pack, sample traffic sent with the tenants' own keys (scripts/send_sample_traffic.py,
as the demo does), then `python -m estate audit`: no mandatory finding, exit 0, no write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.estate.support import findings_by_rule, run_audit, writes
from tests.support.callback_receiver import CallbackReceiver
from tests.support.emulator_process import REPO_ROOT, running_emulator
from tests.support.pulumi_cli import PulumiWorkspace, copy_program

pytestmark = pytest.mark.e2e

DEV_COLLECTOR = "http://127.0.0.1:4020/twilio/status"
PACK = REPO_ROOT / "policies"


def test_the_demo_estate_has_no_mandatory_finding(tmp_path: Path) -> None:
    with (
        running_emulator(tmp_path / "emulator", extra_args=["--lifecycle-step-ms", "20"]) as emu,
        CallbackReceiver() as receiver,
    ):
        project = copy_program(tmp_path / "project")
        stack_file = project / "Pulumi.dev.yaml"
        # The demo's collector is loopback http like the receiver: the same class of URL.
        stack_file.write_text(stack_file.read_text().replace(DEV_COLLECTOR, receiver.url()))
        dev = PulumiWorkspace(
            project_dir=project,
            state_dir=tmp_path / "state",
            extra_env={"TWILIO_EMULATOR_URL": emu.url},
        )
        dev.init_stack("dev")
        dev.run(
            "up",
            "--yes",
            "--skip-preview",
            "--policy-pack",
            str(PACK),
            "--policy-pack-config",
            str(PACK / "config" / "dev.json"),
        )
        traffic = subprocess.run(
            [sys.executable, str(REPO_ROOT / "scripts" / "send_sample_traffic.py")],
            cwd=project,
            env={**dev.env(), "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert traffic.returncode == 0, traffic.stdout + traffic.stderr
        before = emu.stats()
        run = run_audit("--format", "json", emulator_url=emu.url)
        after = emu.stats()

    assert run.returncode == 0, run.stdout + run.stderr
    document = run.json()
    mandatory = [f for f in document["findings"] if f["level"] == "mandatory"]
    assert mandatory == [], mandatory
    assert document["read"]["subaccounts"] == 2
    assert document["parent_traffic"]["messages"] == 0
    # The dev stack owns development and staging; production lives in the prod stack.
    assert ("isolated-environments", "Twilio Landing Zone emulator parent") in findings_by_rule(
        document
    )
    assert writes(after) == writes(before)
