"""Moving a number between two services of the stack: the destination pool detaches it from
the source and attaches it, the number is neither released nor bought again, and the result
is the same whichever pool Pulumi updates first."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.estate import estate
from tests.support.pulumi_cli import PulumiWorkspace, copy_program

pytestmark = pytest.mark.e2e

STACK = """\
config:
  twilio-landing-zone:collectorUrl: http://127.0.0.1:4020/twilio/status
  twilio-landing-zone:architecture:
    style: direct
    environments: [development]
    tenants:
      - key: payments
        display_name: Payments
        environment: development
        services:
          - use_case: notifications
            webhooks: {{status_callback: collector}}
            senders:
              phone_numbers: {{numbers: [{notifications}], release_on_delete: true}}
          - use_case: verification
            webhooks: {{status_callback: collector}}
            senders:
              phone_numbers: {{numbers: [{verification}], release_on_delete: true}}
"""
A, B, C = "+14155550100", "+14155550101", "+14155550102"
NUMBER_WRITES = re.compile(r"^(POST|DELETE) /api/2010-04-01/Accounts/\{AccountSid\}/IncomingPhone")


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with running_emulator(tmp_path / "emulator") as running:
        yield running


def write_stack(workspace: PulumiWorkspace, notifications: list[str], verification: list[str]):
    (workspace.project_dir / "Pulumi.moves.yaml").write_text(
        STACK.format(
            notifications=", ".join(f"'{n}'" for n in notifications),
            verification=", ".join(f"'{n}'" for n in verification),
        )
    )


def pools(emulator: EmulatorProcess) -> dict[str, set[str]]:
    [account] = estate(emulator).values()
    return {
        service.use_case: {account.numbers[sid] for sid in service.phone_number_sids}
        for service in account.services
        if "[tlz:" in service.friendly_name
    }


def number_writes(emulator: EmulatorProcess) -> int:
    routes = emulator.stats()["routes"]
    return sum(count for route, count in routes.items() if NUMBER_WRITES.match(route))


def test_a_number_moves_between_services_without_release(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = copy_program(tmp_path / "project", stack_files=False)
    workspace = PulumiWorkspace(
        project_dir=project,
        state_dir=tmp_path / "state",
        extra_env={"TWILIO_EMULATOR_URL": emulator.url},
    )
    write_stack(workspace, [A, B], [C])
    workspace.init_stack("moves")
    workspace.run("up", "--yes", "--skip-preview")
    assert pools(emulator) == {"notifications": {A, B}, "verification": {C}}
    [account] = estate(emulator).values()
    sids = {number: sid for sid, number in account.numbers.items()}

    writes = number_writes(emulator)
    write_stack(workspace, [A], [B, C])
    move = workspace.run("up", "--yes", "--skip-preview")
    assert "replaced" not in move.output and "deleted" not in move.output
    assert pools(emulator) == {"notifications": {A}, "verification": {B, C}}
    [account] = estate(emulator).values()
    assert {number: sid for sid, number in account.numbers.items()} == sids
    # Only the moved number's friendly name was updated: nothing released, nothing bought.
    assert number_writes(emulator) - writes == 1

    # And back: this time the other pool is the destination.
    write_stack(workspace, [A, B], [C])
    workspace.run("up", "--yes", "--skip-preview")
    assert pools(emulator) == {"notifications": {A, B}, "verification": {C}}
    workspace.run("preview", "--expect-no-changes")
