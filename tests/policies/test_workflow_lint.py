"""The pull-request workflow: linted with actionlint (built from its Go module by
scripts/install-actionlint), and it runs the policy check of both stacks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.pulumi_cli import BIN_DIR, REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONLINT = BIN_DIR / "actionlint"
INSTALLER = REPO_ROOT / "scripts" / "install-actionlint"


def pinned_version() -> str:
    for line in (REPO_ROOT / "tools" / "actionlint" / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["github.com/rhysd/actionlint"]:
            return parts[1]
    raise AssertionError("tools/actionlint/go.mod does not require github.com/rhysd/actionlint")


def go_line() -> str:
    """The oldest Go the wrapper module can be built with: its `go` line."""
    for line in (REPO_ROOT / "tools" / "actionlint" / "go.mod").read_text().splitlines():
        if line.startswith("go "):
            return line.split()[1]
    raise AssertionError("tools/actionlint/go.mod has no go line")


def test_workflows_pass_actionlint() -> None:
    # A missing linter is a failure, never a skip: `make setup` builds it.
    assert ACTIONLINT.exists(), f"{ACTIONLINT} is missing: run `make setup`"
    version = subprocess.run(
        [str(ACTIONLINT), "-version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    assert version == pinned_version()
    files = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
    assert files, "no workflow files"
    linted = subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, files)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    # The linter really lints: an unknown runner label and a bad expression are refused.
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latst\n"
        "    steps:\n      - run: echo ${{ github.evnt.number }}\n"
    )
    linted = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(broken)], cwd=tmp_path, capture_output=True, text=True
    )
    assert linted.returncode == 1, linted.stdout + linted.stderr
    assert "ubuntu-latst" in linted.stdout
    assert "evnt" in linted.stdout


def test_pull_requests_run_the_policy_check_of_dev_and_prod() -> None:
    workflow = yaml.safe_load((WORKFLOWS / "policy-check.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "pull_request" in triggers
    [job] = workflow["jobs"].values()
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == ['make policy-check STACK="${{ matrix.stack }}"']
    # A preview makes no Twilio call: the workflow needs no secrets.
    assert "secrets." not in (WORKFLOWS / "policy-check.yml").read_text()


def _path_without_go() -> str:
    keep = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not (Path(entry) / "go").exists()
    ]
    return os.pathsep.join(keep)


def test_install_actionlint_without_go_fails_in_one_line(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(INSTALLER, checkout / "scripts" / "install-actionlint")
    shutil.copytree(REPO_ROOT / "tools" / "actionlint", checkout / "tools" / "actionlint")
    env = {**os.environ, "PATH": _path_without_go(), "TLZ_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [str(checkout / "scripts" / "install-actionlint")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"install-actionlint: Go is not installed, and it is needed to build actionlint "
        f"{pinned_version()}. Install Go >= {go_line()} and run 'make setup' again."
    ]
    assert not (checkout / ".bin").exists()


def test_install_actionlint_reuses_the_cached_build(tmp_path: Path) -> None:
    # `make setup` built it into the per-user cache; another checkout only links it.
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(INSTALLER, checkout / "scripts" / "install-actionlint")
    shutil.copytree(REPO_ROOT / "tools" / "actionlint", checkout / "tools" / "actionlint")
    result = subprocess.run(
        [str(checkout / "scripts" / "install-actionlint")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "building" not in result.stderr, result.stderr
    installed = subprocess.run(
        [str(checkout / ".bin" / "actionlint"), "-version"], capture_output=True, text=True
    )
    assert installed.stdout.splitlines()[0] == pinned_version()


def test_workflows_use_the_passphrase_the_stack_files_are_salted_for() -> None:
    # `Pulumi.<stack>.yaml` carries the encryption salt of the documented local passphrase:
    # a workflow with any other one stops at "incorrect passphrase" before previewing.
    for path in sorted(WORKFLOWS.glob("*.yml")):
        text = yaml.safe_load(path.read_text())
        envs = [text.get("env", {})]
        for job in text["jobs"].values():
            envs.append(job.get("env", {}))
            envs.extend(step.get("env", {}) for step in job.get("steps", []))
        for env in envs:
            if "PULUMI_CONFIG_PASSPHRASE" in env:
                assert env["PULUMI_CONFIG_PASSPHRASE"] == "twilio-landing-zone-local", path.name
