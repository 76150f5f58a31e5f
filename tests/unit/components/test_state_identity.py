"""The state a run belongs to: different for two file backends, stable for one."""

from __future__ import annotations

import json
from pathlib import Path

from components.state_identity import PULUMI_CLOUD, backend_url, normalized_backend, state_identity


def test_two_file_backends_are_two_states(tmp_path: Path) -> None:
    first = {"PULUMI_BACKEND_URL": f"file://{tmp_path}/one"}
    second = {"PULUMI_BACKEND_URL": f"file://{tmp_path}/two"}
    assert state_identity("organization", "p", "dev", first) != state_identity(
        "organization", "p", "dev", second
    )
    assert state_identity("organization", "p", "dev", first) == state_identity(
        "organization", "p", "dev", dict(first)
    )


def test_the_stack_and_organization_are_part_of_it() -> None:
    env = {"PULUMI_BACKEND_URL": "https://api.pulumi.com"}
    assert state_identity("acme", "p", "dev", env) != state_identity("other", "p", "dev", env)
    assert state_identity("acme", "p", "dev", env) != state_identity("acme", "p", "prod", env)


def test_the_backend_comes_from_pulumi_login_when_not_in_the_environment(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text(json.dumps({"current": "s3://bucket/state"}))
    assert backend_url({"PULUMI_HOME": str(tmp_path)}) == "s3://bucket/state"
    assert backend_url({"PULUMI_HOME": str(tmp_path / "absent")}) == PULUMI_CLOUD


def test_no_credentials_or_query_in_the_identity(tmp_path: Path) -> None:
    assert (
        normalized_backend("https://user:secret@example.com:8443/state/?token=x", "h")
        == "https://example.com:8443/state"
    )
    assert normalized_backend(f"file://{tmp_path}/b/../b", "host") == f"file://host{tmp_path}/b"


def test_only_removals_made_moments_ago_are_reported() -> None:
    from components.twins import JUST_NOW_SECONDS, removed_just_now

    now = 1_000_000.0
    records = [
        None,
        {"sids": ["PN2", "PN1"], "at": now - 3},
        {"sids": ["MG1"], "at": now - JUST_NOW_SECONDS - 1},  # an earlier run's, in state
    ]
    assert removed_just_now(records, now) == ["PN1", "PN2"]
