"""A customer's rename through the real CLI against the emulator: its preview plans updates in
place (the subaccount's SID stays known: tools/provider_host/provider_previews.py), never a
replace of its protected numbers, so `fleet preview` and `fleet up` (which previews first by
default) pass and every Twilio object keeps its SID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.defaults import DEV_ACCOUNT_SID
from tests.fleet.support import add_customers, fleet_env, fleet_project, run_fleet
from tests.support.emulator_process import EmulatorProcess, running_emulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "20"]) as emu:
        yield emu


def twilio_objects(emulator: EmulatorProcess) -> dict[str, set[str]]:
    """SIDs of what the emulator holds: open subaccounts, their numbers, services and keys."""
    parent = emulator.client()
    accounts = [
        a
        for a in parent.api.v2010.accounts.list()
        if a.sid != DEV_ACCOUNT_SID and a.status == "active"
    ]
    found: dict[str, set[str]] = {"accounts": {a.sid for a in accounts}}
    found["numbers"], found["services"], found["keys"] = set(), set(), set()
    for account in accounts:
        inside = emulator.client(account.sid, account.auth_token)
        found["numbers"] |= {n.sid for n in inside.api.v2010.account.incoming_phone_numbers.list()}
        found["services"] |= {s.sid for s in inside.messaging.v1.services.list()}
        found["keys"] |= {k.sid for k in inside.api.v2010.account.keys.list()}
    return found


def account_names(emulator: EmulatorProcess) -> list[str]:
    return sorted(
        a.friendly_name
        for a in emulator.client().api.v2010.accounts.list()
        if a.sid != DEV_ACCOUNT_SID and a.status == "active"
    )


def test_a_rename_previews_as_updates_and_keeps_every_sid(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = fleet_project(tmp_path / "project", catalogs=True)
    env = fleet_env(tmp_path / "state", emulator.url)
    assert add_customers(project, ["alpha", "bravo"], env) == ["prod-g01", "prod-g01"]
    up = run_fleet(project, "up", env=env)
    assert up.returncode == 0, up.stderr + up.stdout
    before = twilio_objects(emulator)
    assert len(before["accounts"]) == 2 and len(before["numbers"]) == 8

    catalog = project / "catalogs" / "prod-g01.yaml"
    text = catalog.read_text()
    assert "display_name: Alpha\n" in text
    catalog.write_text(text.replace("display_name: Alpha\n", "display_name: Alpha Dental\n"))

    writes = emulator.stats()["writes"]
    preview = run_fleet(project, "preview", env=env)
    assert preview.returncode == 0, preview.stderr + preview.stdout
    row = next(line for line in preview.stdout.splitlines() if line.startswith("prod-g01"))
    # The subaccount and what carries its name (keys, services, numbers) update in place;
    # nothing is replaced, created or deleted.
    assert "update" in row, row
    assert not any(op in row for op in ("replace", "create", "delete")), row
    assert emulator.stats()["writes"] == writes  # a preview writes nothing

    renamed = run_fleet(project, "up", env=env)  # previews first: the default
    assert renamed.returncode == 0, renamed.stderr + renamed.stdout
    row = next(line for line in renamed.stdout.splitlines() if line.startswith("prod-g01"))
    assert "done" in row and "update" in row, row
    assert not any(op in row for op in ("replace", "create", "delete")), row
    assert twilio_objects(emulator) == before
    names = account_names(emulator)
    assert any(name.startswith("Alpha Dental") for name in names), names
    assert not any(name.startswith("Alpha [") for name in names), names

    # Converged: the next preview is no change at all.
    again = run_fleet(project, "preview", env=env)
    assert again.returncode == 0, again.stderr
    assert "no change" in again.stdout


def test_the_gate_can_be_skipped_but_not_both_ways(tmp_path: Path) -> None:
    project = fleet_project(tmp_path / "project")
    env = fleet_env(tmp_path / "state")
    both = run_fleet(project, "up", "--preview-first", "--skip-preview", env=env, timeout=120)
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr
