"""`python -m fleet changed --base REF`: the groups whose inputs differ from a git ref."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fleet.__main__ import main
from fleet.catalog import CustomerSpec, FleetError, add_customer, load_settings
from fleet.inputs import changed_groups
from tests.fleet.support import commit, fleet_project, git
from tests.support.pulumi_cli import REPO_ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = fleet_project(tmp_path / "project", max_per_group=2)
    settings = load_settings(project)
    for key in ("alpha", "bravo", "charlie", "delta", "echo"):
        add_customer(settings, CustomerSpec(key, key.title()))
    commit(project, "three groups")
    return project


def changed(project: Path, base: str = "HEAD") -> dict[str, str]:
    chosen, _ = changed_groups(load_settings(project), base)
    return {change.name: change.reason for change in chosen}


def test_nothing_changed_is_no_group(project: Path) -> None:
    assert changed(project) == {}


def test_a_group_file_touches_only_that_group(project: Path) -> None:
    path = project / "Pulumi.prod-g02.yaml"
    path.write_text(path.read_text().replace("display_name: Charlie", "display_name: Charlie Co"))
    assert changed(project) == {"prod-g02": "Pulumi.prod-g02.yaml changed"}
    commit(project, "rename")
    # Committed: compared with the commit before it, as a pull request is with its base.
    assert changed(project, "HEAD~1") == {"prod-g02": "Pulumi.prod-g02.yaml changed"}
    assert changed(project) == {}


def test_policy_configs_touch_the_groups_that_use_them(project: Path) -> None:
    own = project / "policies" / "config" / "prod-g01.json"
    own.write_text((project / "policies" / "config" / "prod.json").read_text())
    assert changed(project) == {"prod-g01": "policies/config/prod-g01.json changed"}
    commit(project, "g01 has its own guardrails")
    default = project / "policies" / "config" / "prod.json"
    default.write_text(default.read_text().replace('"max_senders": 400', '"max_senders": 300'))
    assert changed(project) == {
        "prod-g02": "policies/config/prod.json changed",
        "prod-g03": "policies/config/prod.json changed",
    }


@pytest.mark.parametrize(
    "shared", ["components/tenant.py", "providers/transport.py", "policies/twilio_guardrails/x.py"]
)
def test_program_or_pack_code_touches_every_group(project: Path, shared: str) -> None:
    path = project / shared
    path.write_text((path.read_text() if path.exists() else "") + "\n# changed\n")
    assert changed(project) == {
        name: f"shared code changed ({shared})" for name in ("prod-g01", "prod-g02", "prod-g03")
    }


def test_new_and_removed_groups(project: Path) -> None:
    add_customer(load_settings(project), CustomerSpec("foxtrot", "Foxtrot"))  # g03 has room
    add_customer(load_settings(project), CustomerSpec("golf", "Golf"))  # a new, untracked g04
    (project / "Pulumi.prod-g01.yaml").unlink()
    chosen, removed = changed_groups(load_settings(project), "HEAD")
    assert [c.name for c in chosen] == ["prod-g03", "prod-g04"]
    assert removed == ["prod-g01"]


def test_json_is_a_github_actions_matrix(project: Path, capsys: pytest.CaptureFixture) -> None:
    path = project / "Pulumi.prod-g03.yaml"
    path.write_text(path.read_text().replace("Echo", "Echo Ltd"))
    assert main(["--project-dir", str(project), "changed", "--base", "HEAD", "--json"]) == 0
    matrix = json.loads(capsys.readouterr().out)
    assert matrix == {"include": [{"group": "prod-g03", "reason": "Pulumi.prod-g03.yaml changed"}]}
    path.write_text(path.read_text().replace("Echo Ltd", "Echo"))
    assert main(["--project-dir", str(project), "changed", "--base", "HEAD", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"include": []}


def test_an_unknown_base_is_one_line(project: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(FleetError, match="no-such-ref"):
        changed(project, "no-such-ref")
    assert main(["--project-dir", str(project), "changed", "--base", "no-such-ref"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-ref" in err
    assert git(project, "status", "--porcelain") == ""


WORKFLOW = REPO_ROOT / ".github" / "workflows" / "fleet-preview.yml"


def test_the_pull_request_workflow_previews_the_changed_groups(project: Path) -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in workflow.get("on", workflow.get(True))
    changed_job, preview_job = workflow["jobs"]["changed"], workflow["jobs"]["preview"]
    assert preview_job["strategy"]["matrix"] == "${{ fromJSON(needs.changed.outputs.matrix) }}"
    assert preview_job["if"] == "needs.changed.outputs.count != '0'"
    assert preview_job["strategy"]["fail-fast"] is False  # one group's violation hides no other
    [preview_step] = [s for s in preview_job["steps"] if "fleet preview" in s.get("run", "")]
    assert '--groups "$GROUP"' in preview_step["run"]
    assert "secrets." not in WORKFLOW.read_text()  # fork pull requests get none

    # The `changed` step's script, run as the runner runs it, in a project with one change.
    [step] = [s for s in changed_job["steps"] if s.get("id") == "changed"]
    path = project / "Pulumi.prod-g02.yaml"
    path.write_text(path.read_text().replace("Charlie", "Charlie Co"))
    outputs = project.parent / "github-output"
    env = {
        **os.environ,
        "BASE": "HEAD",
        "GITHUB_OUTPUT": str(outputs),
        "PYTHONPATH": str(REPO_ROOT),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    script = step["run"].replace("python -m fleet", f"python -m fleet --project-dir {project}")
    subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], env=env, check=True)
    lines = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert json.loads(lines["matrix"]) == {
        "include": [{"group": "prod-g02", "reason": "Pulumi.prod-g02.yaml changed"}]
    }
    assert lines["count"] == "1"
