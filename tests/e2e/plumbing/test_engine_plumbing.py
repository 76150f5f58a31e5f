"""The engine plumbing, through the real CLI: a dynamic provider from an importable module is
created, updated, refreshed and deleted; its provider reads a secret through `configure()`;
a policy pack blocks a preview; the secret never shows in state or output."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
from pathlib import Path

import pytest

from tests.support.pulumi_cli import VENV_DIR, PulumiWorkspace

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).parent / "project"


@pytest.fixture
def workspace(tmp_path: Path) -> PulumiWorkspace:
    project_dir = tmp_path / "project"
    shutil.copytree(PROJECT, project_dir)
    (project_dir / "Pulumi.yaml").write_text(
        f"name: plumbing\nruntime:\n  name: python\n  options:\n    virtualenv: {VENV_DIR}\n"
    )
    store = tmp_path / "store"
    store.mkdir()
    workspace = PulumiWorkspace(project_dir=project_dir, state_dir=tmp_path / "state")
    workspace.init_stack("test")
    workspace.set_config("store", str(store))
    return workspace


def stored_greetings(store: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in store.glob("*.json")}


def test_create_update_refresh_destroy_with_a_secret_and_a_policy(
    workspace: PulumiWorkspace, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    token = f"tok-{secrets.token_hex(16)}"
    workspace.set_config("token", token, secret=True)
    workspace.set_config("message", "hello")

    workspace.run("up", "--yes", "--skip-preview")
    outputs = workspace.outputs()
    assert outputs["message"] == "hello"
    # The provider saw the decrypted secret through configure(): it fingerprints it.
    assert outputs["token_fingerprint"] == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert [g["message"] for g in stored_greetings(store).values()] == ["hello"]

    no_change = workspace.run("preview", "--diff", "--expect-no-changes")
    assert "2 unchanged" in no_change.output

    workspace.set_config("message", "hi")
    update = workspace.run("up", "--yes", "--skip-preview")
    assert "1 updated" in update.output
    [(greeting_id, greeting)] = stored_greetings(store).items()
    assert greeting["message"] == "hi"

    # An edit behind Pulumi's back is found by refresh.
    drifted = dict(greeting, message="edited elsewhere")
    (store / f"{greeting_id}.json").write_text(json.dumps(drifted))
    refresh = workspace.run("refresh", "--yes", "--skip-preview")
    assert "1 updated" in refresh.output
    [resource] = workspace.resources("pulumi-python:dynamic/plumbing:Greeting")
    assert resource["outputs"]["message"] == "edited elsewhere"

    workspace.set_config("message", "SHOUT")
    blocked = workspace.run(
        "preview", "--policy-pack", str(workspace.project_dir / "policy_pack"), check=False
    )
    assert blocked.returncode != 0
    assert "[mandatory]  no-shouting" in blocked.output
    assert "write 'shout' instead" in blocked.output

    workspace.set_config("message", "bye")
    allowed = workspace.run(
        "up", "--yes", "--policy-pack", str(workspace.project_dir / "policy_pack")
    )
    assert "no-shouting" not in allowed.output

    workspace.run("destroy", "--yes", "--skip-preview")
    assert stored_greetings(store) == {}

    assert token not in workspace.state_text()
    assert token not in workspace.all_output()
    assert workspace.state_files(), "the file backend wrote no state"
