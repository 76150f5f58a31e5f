"""The repository is self-sufficient: nothing reads outside the checkout, and the cold path
(`make test` on a clean runner with no cache) is what the public CI runs on every push."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.support.pulumi_cli import REPO_ROOT

COLD_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "cold-test.yml"
# A user's clone has nothing beside it: no tracked file may name the reference folder that
# sits beside the development checkout (by a relative path or one built from the parent).
OUTSIDE_THE_CHECKOUT = re.compile(
    r"\.\.[/\\]shared\b|shared[/\\]reference|\.parent\s*/\s*[\"']shared"
)


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return listed.stdout.splitlines()


def test_nothing_in_the_project_reads_beside_the_checkout() -> None:
    offenders = []
    this_file = str((REPO_ROOT / __file__).resolve().relative_to(REPO_ROOT))
    for name in tracked_files():
        path = REPO_ROOT / name
        if name == this_file or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{name}: {m.group(0)}" for m in OUTSIDE_THE_CHECKOUT.finditer(text)]
    assert offenders == []


def test_every_push_runs_make_test_cold() -> None:
    workflow = yaml.safe_load(COLD_WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    [job] = workflow["jobs"].values()
    steps = job["steps"]
    [make_test] = [step for step in steps if "run" in step]
    assert make_test["run"] == "make test"
    assert make_test["env"]["TLZ_CACHE_DIR"].startswith("${{ runner.temp }}")
    # No cache of any kind is restored, and no Pulumi release is installed: setup builds it.
    text = COLD_WORKFLOW.read_text()
    assert "actions/cache" not in text and "pulumi/actions" not in text
    for step in steps:
        assert step.get("with", {}).get("cache", False) in (False, "false")
