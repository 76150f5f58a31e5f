"""Two states, one account: a second clone with its own file backend and the same stack name
never adopts, nor deletes, what the first clone's state manages.

Through the real CLI against one emulator: clone A's `up` builds the dev stack; clone B (its
own project copy and backend) runs `up` of the same stack and fails with one line naming the
object, its age and the two ways forward, having made no write to Twilio. A's keys still send.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.emulator_process import running_emulator
from tests.support.reliability import UP, assert_exactly_declared, dev_workspace

pytestmark = pytest.mark.reliability


def writes(stats: dict) -> int:
    return sum(n for route, n in stats["routes"].items() if route.split()[0] in ("POST", "DELETE"))


def test_a_second_state_stops_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator") as emulator:
        first = dev_workspace(tmp_path / "clone-a", emulator)
        first.run(*UP)
        second = dev_workspace(tmp_path / "clone-b", emulator)

        before = emulator.stats()
        refused = second.run(*UP, check=False)
        after = emulator.stats()

        assert refused.returncode != 0
        lines = [line for line in refused.output.splitlines() if "Twilio already holds" in line]
        assert lines, refused.output
        held = {r["id"] for r in first.resources("pulumi-python:dynamic/twilio:Subaccount")}
        for line in lines:
            # One line: which object (one the first clone's state holds), how old, two ways.
            assert any(f"Twilio already holds {sid} " in line for sid in held), (line, held)
            assert "with this resource's identity tag, created" in line
            assert " s ago by another Pulumi state" in line or " min ago by another" in line
            assert "nothing was changed" in line
            assert "same backend and stack" in line and "TLZ_ADOPT=AC" in line
        assert writes(after) == writes(before), "the refused run wrote to Twilio"
        assert after["writes"] == before["writes"], "the refused run wrote to Twilio"
        assert not second.resources("pulumi-python:dynamic/twilio:Subaccount")

        # The first clone's state still holds exactly the estate, and its keys still send.
        assert_exactly_declared(first, emulator)
        outputs = first.outputs(show_secrets=True)
        for tenant_key, tenant in outputs["tenants"].items():
            for key_name, key_sid in tenant["api_key_sids"].items():
                secret = outputs["api_key_secrets"][tenant_key][key_name]
                app = emulator.client(key_sid, secret, tenant["subaccount_sid"])
                service_sid = next(iter(tenant["service_sids"].values()))
                message = app.messages.create(
                    to="+15005550006", messaging_service_sid=service_sid, body="still here"
                )
                assert message.status in ("accepted", "queued"), (tenant_key, key_name)
        first.run("preview", "--expect-no-changes")
