"""The demo's path through the real CLI: a collector started before `pulumi up` of the dev
stack on the emulator, the stack's `names` output written by `pulumi stack output --json`,
seeded traffic with the tenants' own keys: every callback admitted through the name map (no
Twilio call, no refusal), reports and /metrics that speak in tenants and use cases, failed and
undelivered messages in the report, and `check` naming the tenants below threshold."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.collector.support import (
    REPO_ROOT,
    CollectorProcess,
    collector_cli,
    collector_environment,
    collector_process,
)
from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.pulumi_cli import PulumiWorkspace, copy_program

pytestmark = pytest.mark.e2e

DEV_COLLECTOR = "http://127.0.0.1:4020/twilio/status"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    args = ["--lifecycle-step-ms", "20"]
    with running_emulator(tmp_path / "emulator", extra_args=args) as running:
        yield running


@pytest.fixture
def names_file(tmp_path: Path) -> Path:
    return tmp_path / "names-dev.json"


@pytest.fixture
def collector(
    tmp_path: Path, emulator: EmulatorProcess, names_file: Path
) -> Iterator[CollectorProcess]:
    env = collector_environment(emulator.url)
    database_url = f"sqlite:///{tmp_path / 'collector.db'}"
    # The estate's list is read once a minute: the new subaccounts are admitted by the name
    # map written after `up`, not by a list refresh.
    with collector_process(
        database_url, env, tmp_path, ("--names", str(names_file), "--no-usage")
    ) as running:
        yield running


def test_the_stacks_names_reach_reports_metrics_and_alerts(
    tmp_path: Path, emulator: EmulatorProcess, collector: CollectorProcess, names_file: Path
):
    project = copy_program(tmp_path / "project")
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace(DEV_COLLECTOR, collector.status_url))
    dev = PulumiWorkspace(
        project_dir=project,
        state_dir=tmp_path / "state",
        extra_env={"TWILIO_EMULATOR_URL": emulator.url},
    )
    dev.init_stack("dev")
    dev.run("up", "--yes", "--skip-preview")
    outputs = dev.run("stack", "output", "--json").output
    assert "[secret]" in outputs  # key secrets stay masked in the file
    names_file.write_text(outputs)
    names = json.loads(outputs)["names"]
    assert {entry["tenant"] for entry in names.values()} == {"shared-dev", "shared-staging"}

    env = {**dev.env(), "PYTHONPATH": str(REPO_ROOT)}
    traffic = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "send_sample_traffic.py"),
            *("--stack", "dev", "--seed", "22", "--per-service", "3"),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert traffic.returncode == 0, traffic.stdout + traffic.stderr
    assert "failed" in traffic.stdout and "undelivered" in traffic.stdout
    sent = traffic.stdout.count("  shared-")

    cli_env = collector_environment(emulator.url)
    database = ["--db", f"sqlite:///{tmp_path / 'collector.db'}"]
    waited = collector_cli(["wait", "--messages", str(sent), "--timeout", "60", *database], cli_env)
    assert waited.returncode == 0, waited.stderr
    health = collector.health()
    assert health["rejections"] == {}  # every callback admitted on the name map
    assert health["estate"]["token_reads"] == 2  # one per subaccount, none per callback

    named = ["--names", str(names_file)]
    report = collector_cli(
        ["report", "--by", "service", "--format", "json", *database, *named], cli_env
    )
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert {(row["tenant"], row["use_case"]) for row in data["rows"]} == {
        ("shared-dev", "notifications"),
        ("shared-dev", "verification"),
        ("shared-staging", "notifications"),
        ("shared-staging", "verification"),
        ("shared-staging", "marketing"),
    }
    assert {row["display_name"] for row in data["rows"]} == {"Appointly shared"}
    assert all(row["key"].startswith("MG") for row in data["rows"])
    assert data["total"]["failed"] >= 1 and data["total"]["undelivered"] >= 1
    table = collector_cli(["report", "--by", "service", *database, *named], cli_env)
    assert table.stdout.splitlines()[2].startswith("shared-dev")

    check = collector_cli(
        ["check", "--min-delivery-rate", "100", "--window", "1h", *database, *named], cli_env
    )
    assert check.returncode == 1
    assert "(Appointly shared)" in check.stdout

    metrics = httpx.get(collector.base_url + "/metrics", timeout=10).text
    labelled = {
        (sample.labels["tenant"], sample.labels["use_case"])
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "tlz_collector_messages_total"
    }
    assert ("shared-staging", "marketing") in labelled
