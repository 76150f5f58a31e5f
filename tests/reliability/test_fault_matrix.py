"""Lost answers while Twilio's lists lag: no silent twin, no orphan.

Every create of every type (subaccounts, keys, services, numbers, pool attaches) may commit
and then answer 500 or drop the connection (the emulator's `commit_then_fail`), while reads
and lists do not see a new object for 2 s. After `pulumi up` and at most one follow-up run,
Twilio holds exactly the declared estate (0 twins, 0 orphans), and `destroy` then either
succeeds or gives advice that is right for that stack.

`make test` runs one cell (the prod stack, 30%, both failure modes mixed); `make reliability`
sets TLZ_FULL_FAULT_MATRIX=1 for the whole matrix: the prod stack and a 20-tenant stack, at 5%
and 30%, with answers lost as 500s and as dropped connections.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.estate_shape import customer_keys, write_stack_file
from tests.support.emulator_process import running_emulator
from tests.support.reliability import (
    assert_exactly_declared,
    declared_plan,
    dev_workspace,
    up_until_converged,
)

pytestmark = pytest.mark.reliability

LAG_MS = 2000
TWENTY_TENANTS = "prod-t20"
FULL = os.environ.get("TLZ_FULL_FAULT_MATRIX") == "1"
CELLS = (
    [
        (stack, rate, mode)
        for stack in ("prod", TWENTY_TENANTS)
        for rate in (0.05, 0.30)
        for mode in ("500", "drop")
    ]
    if FULL
    else [("prod", 0.30, "mixed")]
)


def _twenty_tenants(project: Path) -> None:
    write_stack_file(project, TWENTY_TENANTS, customer_keys(20))


@pytest.mark.parametrize(("stack", "rate", "mode"), CELLS)
def test_lost_answers_with_lagging_lists_leave_no_twin(
    tmp_path: Path, stack: str, rate: float, mode: str
) -> None:
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "20"]) as emulator:
        prepare = _twenty_tenants if stack == TWENTY_TENANTS else None
        workspace = dev_workspace(tmp_path, emulator, stack, prepare)
        emulator.set_faults(
            rate_commit_then_fail=rate,
            commit_then_fail_mode=mode,
            eventual_consistency_ms=LAG_MS,
            seed=20261204,
        )

        codes = up_until_converged(workspace, 2)  # up, and at most one follow-up run

        faults = emulator.stats()["faults"]
        lost = faults.get("commit_then_500", 0) + faults.get("commit_then_drop", 0)
        assert lost >= 1, faults
        emulator.set_faults(rate_commit_then_fail=0.0, eventual_consistency_ms=0)
        assert_exactly_declared(workspace, emulator, stack)
        workspace.run("preview", "--expect-no-changes")

        # Destroy: an operator unprotects production first. Numbers kept on delete (the
        # shipped prod stack) keep their subaccounts open, and the advice says so; numbers
        # released on delete (the 20-tenant stack) leave nothing behind.
        workspace.run("state", "unprotect", "--all", "--yes")
        destroyed = workspace.run("destroy", "--yes", "--skip-preview", check=False)
        plan = declared_plan(workspace, stack)
        releases = all(number.release_on_delete for number in plan.numbers())
        if releases:
            assert destroyed.returncode == 0, destroyed
        else:
            assert destroyed.returncode != 0
            assert "still holds phone numbers" in destroyed.output
            assert "set `release_on_delete: true`" in destroyed.output
        assert codes[-1] == 0
