"""`fleet preview|up --base REF` through the real CLI against the emulator: a customer joining a
converged group is previewed and created with `--target` on its Tenant (and its dependents),
the other customers are not read from Twilio, and the group is recorded as converged with the
new inputs only because everything else was REF's converged inputs. When that cannot be
proven, the run is a full one and says why."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.defaults import DEV_ACCOUNT_SID
from tests.fleet.support import add_customers, commit, fleet_env, fleet_project, run_fleet
from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.pulumi_cli import BIN_DIR

pytestmark = pytest.mark.e2e


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "20"]) as emu:
        yield emu


def active_accounts(emulator: EmulatorProcess) -> dict[str, str]:
    """friendly name -> SID of the open subaccounts."""
    return {
        a.friendly_name: a.sid
        for a in emulator.client().api.v2010.accounts.list()
        if a.sid != DEV_ACCOUNT_SID and a.status == "active"
    }


def row_of(output: str, group: str = "prod-g01") -> str:
    return next(line for line in output.splitlines() if line.startswith(group))


def test_a_joining_customer_is_run_alone_and_the_group_stays_truthfully_converged(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = fleet_project(tmp_path / "project", max_per_group=5, catalogs=True)
    env = fleet_env(tmp_path / "state", emulator.url)
    add_customers(project, ["alpha", "bravo"], env)
    up = run_fleet(project, "up", env=env)
    assert up.returncode == 0, up.stderr + up.stdout
    commit(project, "alpha and bravo, deployed")
    before = active_accounts(emulator)

    assert add_customers(project, ["charlie"], env) == ["prod-g01"]
    stats = emulator.stats()
    preview = run_fleet(project, "preview", "--groups", "prod-g01", "--base", "HEAD", env=env)
    assert preview.returncode == 0, preview.stderr + preview.stdout
    row = row_of(preview.stdout)
    assert "targeted: 1 customer(s) changed since HEAD (charlie)" in row, row
    assert "create" in row and not any(op in row for op in ("update", "replace", "delete")), row
    assert emulator.stats()["total"] == stats["total"]  # a preview asks Twilio nothing

    joined = run_fleet(project, "up", "--groups", "prod-g01", "--base", "HEAD", env=env)
    assert joined.returncode == 0, joined.stderr + joined.stdout
    row = row_of(joined.stdout)
    assert "done" in row and "targeted: 1 customer(s)" in row, row
    after = active_accounts(emulator)
    new = set(after.values()) - set(before.values())
    assert len(after) == 3 and len(new) == 1
    assert all(after[name] == sid for name, sid in before.items())  # the others kept
    # Only the parent and the new subaccount were asked anything: the others were not read.
    touched = Counter(emulator.stats()["by_account"])
    touched.subtract(stats["by_account"])
    assert set(+touched) == {DEV_ACCOUNT_SID, *new}, dict(+touched)

    # The stack's outputs cover every customer: the others' from the state, as a full run.
    outputs = subprocess.run(
        [str(BIN_DIR / "pulumi"), "stack", "output", "--stack", "prod-g01", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    exported = json.loads(outputs.stdout)
    assert sorted(exported["tenants"]) == ["alpha", "bravo", "charlie"], exported["tenants"]
    assert set(exported["names"]) >= set(after.values())
    # Recorded as converged with these inputs, and it is: a full preview changes nothing.
    again = run_fleet(project, "up", env=env)
    assert again.returncode == 0, again.stderr
    assert "converged with these inputs" in row_of(again.stdout)
    full = run_fleet(project, "preview", env=env)
    assert full.returncode == 0, full.stderr
    assert "no change" in row_of(full.stdout), full.stdout


def test_a_base_the_state_was_not_converged_from_means_a_full_run(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = fleet_project(tmp_path / "project", max_per_group=5, catalogs=True)
    env = fleet_env(tmp_path / "state", emulator.url)
    add_customers(project, ["alpha"], env)
    up = run_fleet(project, "up", env=env)
    assert up.returncode == 0, up.stderr + up.stdout
    # alpha's rename is committed but never deployed; then bravo joins.
    catalog = project / "catalogs" / "prod-g01.yaml"
    catalog.write_text(catalog.read_text().replace("display_name: Alpha\n", "display_name: A2\n"))
    commit(project, "alpha renamed, not deployed")
    add_customers(project, ["bravo"], env)

    preview = run_fleet(project, "preview", "--groups", "prod-g01", "--base", "HEAD", env=env)
    assert preview.returncode == 0, preview.stderr + preview.stdout
    row = row_of(preview.stdout)
    assert "full run: its last `fleet up` did not converge it to HEAD's inputs" in row, row
    assert "update" in row and "create" in row, row  # alpha's rename is not hidden

    up = run_fleet(project, "up", "--groups", "prod-g01", "--base", "HEAD", env=env)
    assert up.returncode == 0, up.stderr + up.stdout
    assert "full run:" in row_of(up.stdout)
    assert any(name.startswith("A2 ") for name in active_accounts(emulator))
