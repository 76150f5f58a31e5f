"""Lost answers while Twilio's lists lag: no silent twin, no orphan.

Every create of every type (subaccounts, keys, services, numbers, pool attaches) may commit
and then answer 500 or drop the connection (the emulator's `commit_then_fail`), while reads
and lists do not see a new object for 2 s. On top of the random rate, the first create of
each type always loses its answer (`commit_then_fail_first`), so every cell covers every
created type, and the test checks it did (`lost_answers` per route).

Two windows:
- the default lost-answer window (10 s) covers the 2 s lag: a create finds what its lost
  answer made, so one `up` converges (a second only when the first failed);
- a window shorter than the lag (0.5 s; Twilio lagging longer than the window): creates are
  tried again and twins are left. The next plain `pulumi up` removes them and names their
  SIDs.
After that, Twilio holds exactly the declared estate (0 twins, 0 orphans), a preview is clean,
and `destroy` then either succeeds or gives advice that is right for that stack.

One case is scripted, as a random cell meets it about 1 run in 12: a key loses every mint's
answer (the first `up` fails), then the follow-up's own mint loses its answer too.

`make test` runs two cells (the prod stack at 30%, both failure modes mixed, each window)
and the scripted case;
`make reliability` sets TLZ_FULL_FAULT_MATRIX=1 for the whole matrix: the prod stack and a
20-tenant stack, at 5% and 30%, with answers lost as 500s and as dropped connections, and the
short window on both stacks (prod at 30%, 20 tenants at 5%).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from bench.estate_shape import customer_keys, write_stack_file
from providers.identity import CREATE_ATTEMPTS, LOST_ANSWER_WINDOW_ENV
from tests.support.emulator_process import running_emulator
from tests.support.reliability import (
    UP,
    assert_exactly_declared,
    declared_plan,
    dev_workspace,
    objects_not_in_state,
    state_view,
)

pytestmark = pytest.mark.reliability

LAG_MS = 2000
SHORT_WINDOW_S = "0.5"  # shorter than the lag: twins are made, the next `up` removes them
TWENTY_TENANTS = "prod-t20"
FULL = os.environ.get("TLZ_FULL_FAULT_MATRIX") == "1"
# The create of each type, as the emulator names its route: each loses at least one answer.
CREATE_ROUTES = {
    r"/Accounts\.json$": "POST /api/2010-04-01/Accounts.json",
    r"/iam/v1/Keys$": "POST /iam/v1/Keys",
    r"/messaging/v1/Services$": "POST /messaging/v1/Services",
    r"/IncomingPhoneNumbers\.json$": (
        "POST /api/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"
    ),
    r"/Services/MG[0-9a-f]{32}/PhoneNumbers$": (
        "POST /messaging/v1/Services/{ServiceSid}/PhoneNumbers"
    ),
}
DEFAULT, SHORT = "default-window", "short-window"
CELLS = (
    [
        (stack, rate, mode, DEFAULT)
        for stack in ("prod", TWENTY_TENANTS)
        for rate in (0.05, 0.30)
        for mode in ("500", "drop")
    ]
    # With the window shorter than the lag every lost answer means one more create, so a
    # resource fails after CREATE_ATTEMPTS lost answers in a row (0.3^4 each): at 30%, some
    # of the 20-tenant stack's ~240 would fail twice in a row; 5% keeps it to what is tested.
    + [("prod", 0.30, "mixed", SHORT), (TWENTY_TENANTS, 0.05, "mixed", SHORT)]
    if FULL
    # In `make test` the short window runs at 5%: the first create of each type still loses
    # its answer (so every type twins). At 30% one run under `stress-ng --cpu 2` left 3 twins
    # after the follow-up: its first `up` had failed (one create lost all its answers), so the
    # follow-up made the creates that run never started, and with lists lagging longer than
    # the window their own lost answers left twins for the run after. A create now looks
    # longer after its last lost answer (providers/identity.py, final_look_window), so the
    # first `up` goes on; `make reliability` keeps that cell.
    else [("prod", 0.30, "mixed", DEFAULT), ("prod", 0.05, "mixed", SHORT)]
)


def _twenty_tenants(project: Path) -> None:
    write_stack_file(project, TWENTY_TENANTS, customer_keys(20))


@pytest.mark.parametrize(("stack", "rate", "mode", "window"), CELLS)
def test_lost_answers_with_lagging_lists_leave_no_twin(
    tmp_path: Path, stack: str, rate: float, mode: str, window: str
) -> None:
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "20"]) as emulator:
        prepare = _twenty_tenants if stack == TWENTY_TENANTS else None
        workspace = dev_workspace(tmp_path, emulator, stack, prepare)
        if window == SHORT:
            workspace.extra_env[LOST_ANSWER_WINDOW_ENV] = SHORT_WINDOW_S
        emulator.set_faults(
            rate_commit_then_fail=rate,
            commit_then_fail_mode=mode,
            commit_then_fail_first=list(CREATE_ROUTES),
            eventual_consistency_ms=LAG_MS,
            seed=20261204,
        )

        first = workspace.run(*UP, check=False)

        if window == DEFAULT and first.returncode == 0:
            # The window covered the lag: no twin, no follow-up run needed.
            emulator.set_faults(eventual_consistency_ms=0)
            assert objects_not_in_state(workspace, emulator) == set()
            emulator.set_faults(eventual_consistency_ms=LAG_MS)
        follow_up, twins = None, set()
        if window == SHORT:
            emulator.set_faults(eventual_consistency_ms=0)  # to count what Twilio holds
            twins = objects_not_in_state(workspace, emulator)
            if first.returncode == 0:
                # The first create of each type lost its answer and was tried again.
                kinds = {sid[:2] for sid in twins}
                assert {"AC", "SK", "MG", "PN"} <= kinds, f"twins of too few types: {twins}"
            emulator.set_faults(eventual_consistency_ms=LAG_MS)
            follow_up = workspace.run(*UP, check=False)  # a plain `up`, no refresh
            assert follow_up.returncode == 0, follow_up
            if first.returncode == 0:
                named = [sid for sid in twins if sid not in follow_up.output]
                assert not named, f"twins removed but not named: {named}\n{follow_up.output}"
                assert f"removed {len(twins)} twin(s)" in follow_up.output, follow_up.output
        elif first.returncode != 0:
            follow_up = workspace.run(*UP, check=False)
            assert follow_up.returncode == 0, f"{first}\n{follow_up}"

        # Every type lost a create's answer (in the first run, or in the follow-up when the
        # first failed before it reached that type).
        lost = emulator.stats()["lost_answers"]
        missed = [route for route in CREATE_ROUTES.values() if not lost.get(route)]
        assert not missed, f"no lost answer on {missed}: {lost}"
        emulator.set_faults(
            rate_commit_then_fail=0.0, commit_then_fail_first=[], eventual_consistency_ms=0
        )
        print(  # the numbers the README reports (pytest -s)
            f"\n{stack} {rate:.0%} {mode} {window}: {sum(lost.values())} lost answers, "
            f"first up exit {first.returncode}, "
            + (f"twins after it {len(twins)}, " if window == SHORT else "")
            + (f"follow-up exit {follow_up.returncode}" if follow_up else "no follow-up")
        )
        assert_exactly_declared(workspace, emulator, stack)
        workspace.run("preview", "--expect-no-changes")

        # Destroy: an operator unprotects production first. Numbers kept on delete (the
        # shipped prod stack) keep their subaccounts open, and the advice says so; numbers
        # released on delete (the 20-tenant stack) leave nothing behind.
        recorded = {r["outputs"]["number"] for r in state_view(workspace).of("PhoneNumber")}
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
            # Right advice: the numbers it names are the stack's own, kept on delete (no twin).
            named = set(re.findall(r"\+1\d{10}", destroyed.output))
            assert named and named <= recorded, (named, recorded)


ONE_TENANT = "prod-one"
RESTRICTED_KEY_CREATE = r"/iam/v1/Keys$"  # the mint of a restricted key (IAM v1)


def _one_tenant(project: Path) -> None:
    """The prod stack's first customer alone: its one API key is the only restricted key, so
    faults scripted on the IAM mint all hit it."""
    document = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())
    architecture = document["config"]["twilio-landing-zone:architecture"]
    architecture["tenants"] = architecture["tenants"][:1]
    (project / f"Pulumi.{ONE_TENANT}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_key_that_lost_every_mint_leaves_no_twin_after_the_follow_up(tmp_path: Path) -> None:
    """The case the short-window cell met 1 run in 12, scripted: every mint of a key commits
    and loses its answer (the first `up` fails), and the follow-up's own mint loses its answer
    too, while lists lag 2 s, longer than the window. The follow-up deletes the keys the
    first run left, mints again, waits until the list shows its new key and deletes the key
    its lost mint made: Twilio holds exactly the declared estate after it, and it names every
    key it deleted."""
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "20"]) as emulator:
        workspace = dev_workspace(tmp_path, emulator, ONE_TENANT, _one_tenant)
        workspace.extra_env[LOST_ANSWER_WINDOW_ENV] = SHORT_WINDOW_S
        lose_mints = {"path_pattern": RESTRICTED_KEY_CREATE, "methods": ["POST"]}
        emulator.set_faults(
            eventual_consistency_ms=LAG_MS,
            script=["commit_then_500"] * (CREATE_ATTEMPTS + 1),  # every mint the create makes
            **lose_mints,
        )
        first = workspace.run(*UP, check=False)
        assert first.returncode != 0, first
        assert "outcome unknown" in first.output, first
        emulator.set_faults(eventual_consistency_ms=0)  # to count what Twilio holds
        left = objects_not_in_state(workspace, emulator)
        assert left and {sid[:2] for sid in left} == {"SK"}, left

        emulator.set_faults(eventual_consistency_ms=LAG_MS, script=["commit_then_500"])
        follow_up = workspace.run(*UP, check=False)
        assert follow_up.returncode == 0, follow_up
        assert emulator.stats()["lost_answers"]["POST /iam/v1/Keys"] == CREATE_ATTEMPTS + 2
        emulator.set_faults(eventual_consistency_ms=0, script=[], path_pattern=None, methods=None)
        assert_exactly_declared(workspace, emulator, ONE_TENANT)
        # The first run's keys and the one the follow-up's lost mint made, each named.
        removed = re.search(r"removed (\d+) twin\(s\)[^:]*: ([^\n]+)", follow_up.output)
        assert removed, follow_up.output
        named = set(re.findall(r"SK[0-9a-f]{32}", removed.group(2)))
        assert left < named and len(named) == int(removed.group(1)) == len(left) + 1, named
        workspace.run("preview", "--expect-no-changes")
