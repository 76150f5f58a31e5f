"""How a provider failure reaches the person running `pulumi up`, through the real CLI and the
project's provider host: a Twilio failure (scripted in the emulator) is one message naming
the resource, Twilio's code and what to do, with no Python traceback; a bug in a provider
keeps its traceback; `TLZ_DEBUG=1` shows the traceback of both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.pulumi_cli import CommandResult, PulumiWorkspace, copy_program

pytestmark = pytest.mark.e2e

ONE_SUBACCOUNT = """
import pulumi
from providers.subaccount import Subaccount, SubaccountInputs

account = Subaccount(
    "experiment",
    SubaccountInputs(
        account_key="experiment",
        environment="development",
        role="shared",
        friendly_name="Experiment [tlz:0123456789]",
        tag="0123456789",
    ),
)
pulumi.export("sid", account.sid)
"""

# Appended to the program's copy of providers/identity.py: the subaccount's create then calls
# a helper with a bug in it (names bound by `from ... import` after this module loaded).
INJECTED_BUG = """

def create_once(*args, **kwargs):
    return {}["injected bug"]
"""

TWILIO_MESSAGE = (
    "Subaccount 'experiment': Twilio error 20500: create failed: Internal Server Error."
)


def workspace_for(tmp_path: Path, name: str, emulator: EmulatorProcess) -> PulumiWorkspace:
    main = tmp_path / f"{name}_main.py"
    main.write_text(ONE_SUBACCOUNT)
    project = copy_program(tmp_path / name, main=main, stack_files=False)
    workspace = PulumiWorkspace(
        project_dir=project,
        state_dir=tmp_path / f"{name}-state",
        extra_env={"TWILIO_EMULATOR_URL": emulator.url},
    )
    workspace.init_stack("dev")
    return workspace


def up(workspace: PulumiWorkspace, *, debug: bool) -> CommandResult:
    workspace.extra_env["TLZ_DEBUG"] = "1" if debug else "0"
    failed = workspace.run("up", "--yes", "--skip-preview", check=False)
    assert failed.returncode != 0, failed
    return failed


def failing_list_of_accounts(emulator: EmulatorProcess) -> None:
    """Every try (the transport makes 8) of the list a create looks for its tag in: a 500."""
    emulator.reset_faults()
    emulator.set_faults(script=["500"] * 8, path_pattern=r"/Accounts\.json$", methods=["GET"])


def test_a_twilio_failure_is_one_message_and_a_bug_keeps_its_traceback(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator") as emulator:
        workspace = workspace_for(tmp_path, "project", emulator)

        failing_list_of_accounts(emulator)
        twilio_failure = up(workspace, debug=False)
        assert TWILIO_MESSAGE in twilio_failure.output, twilio_failure
        assert "run `pulumi up` again" in twilio_failure.output
        assert "https://www.twilio.com/docs/errors/20500" in twilio_failure.output
        assert "Traceback" not in twilio_failure.output, twilio_failure
        assert 'File "' not in twilio_failure.output

        failing_list_of_accounts(emulator)
        debugged = up(workspace, debug=True)
        assert TWILIO_MESSAGE in debugged.output, debugged
        assert "Traceback (most recent call last):" in debugged.output
        # The Twilio error behind the message, and where it happened.
        assert "twilio.base.exceptions.TwilioException" in debugged.output, debugged
        assert "providers/subaccount.py" in debugged.output

        emulator.reset_faults()
        buggy = workspace_for(tmp_path, "buggy", emulator)
        with (buggy.project_dir / "providers" / "identity.py").open("a") as identity:
            identity.write(INJECTED_BUG)
        for debug in (False, True):
            bug = up(buggy, debug=debug)
            assert "Traceback (most recent call last):" in bug.output, bug
            assert "KeyError: 'injected bug'" in bug.output
            assert "providers/subaccount.py" in bug.output
            assert "Twilio error" not in bug.output
