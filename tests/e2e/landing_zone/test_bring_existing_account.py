"""README "Bring an existing account", command for command, through the real CLI against the
emulator's seeded legacy estate: audit (findings, exit 1, no write) -> discover (validates)
-> up (no creating POST, no delete) -> a second preview with no change -> the parent's numbers
moved into a tenant by number transfer (same SIDs, no purchase, no release; the parent's
service removed once empty) -> audit again (nothing left on the parent but its key; its
earlier messages reported as history with their dates). And a transfer Twilio refuses stops
with Twilio's error, leaving the number where it was."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.estate.support import CREDENTIAL_VARIABLES, run_audit, seeded_emulator
from tests.support.adoption import ARCHITECTURE, delta, discover, edit, workspace
from tests.support.emulator_process import REPO_ROOT, EmulatorProcess

pytestmark = pytest.mark.e2e

PARENT_NUMBERS = ("+14152000000", "+15102000000")  # emulator/seed.py: in 'Main messaging', loose
NUMBER_BOUGHT = "POST /api/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"
NUMBER_RELEASED = "DELETE /api/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json"


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with seeded_emulator(tmp_path / "emulator") as emulator:
        yield emulator


def parent_numbers(emulator: EmulatorProcess) -> dict[str, str]:
    """E.164 -> PN SID of the numbers on the parent."""
    numbers = emulator.client().api.v2010.accounts(emulator.account_sid)
    return {n.phone_number: n.sid for n in numbers.incoming_phone_numbers.list()}


def move_parent_numbers_into(tenant_key: str, sids: dict[str, str]):
    """The edit README shows: a service for the parent's traffic in the tenant, its numbers
    adopted by SID and moved from the parent."""

    def change(architecture: dict[str, Any]) -> None:
        [tenant] = [t for t in architecture["tenants"] if t["key"] == tenant_key]
        tenant["services"].append(
            {
                "use_case": "undeclared",
                "friendly_name": "Main messaging",
                "webhooks": {"status_callback": "https://hooks.acme.example.com/twilio/status"},
                "senders": {
                    "phone_numbers": {
                        "numbers": list(sids),
                        "sms_webhooks": {"sms_url": "https://legacy.example.com/sms/inbound"},
                    }
                },
            }
        )
        for number, sid in sids.items():
            architecture["adopt"][f"{tenant_key}-num-{number.lstrip('+')}"] = sid
        architecture["transfers"] = {number: "parent" for number in sids}

    return change


def test_bring_the_legacy_account_under_the_stack(legacy: EmulatorProcess, tmp_path: Path) -> None:
    # 1. Audit: findings, exit 1, nothing written.
    audit = run_audit("--format", "json", emulator_url=legacy.url)
    assert audit.returncode == 1, audit.stderr
    assert legacy.stats()["writes"] == 0
    kinds_on_parent = {
        f["object_kind"] for f in audit.json()["findings"] if f["rule"] == "no-sending-from-parent"
    }
    assert {"PhoneNumber", "MessagingService"} <= kinds_on_parent

    # 2. Discover: the stack file validates.
    pulumi = workspace(tmp_path, legacy)
    stack_file = discover(legacy, pulumi.project_dir, "legacy")
    environ = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    validated = subprocess.run(
        [sys.executable, "-m", "architecture", "validate", str(stack_file)],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
    )
    assert validated.returncode == 0, validated.stderr

    # 3. up: no creating POST, no delete (no write at all); 4. a second preview: no change.
    pulumi.init_stack("legacy")
    before = legacy.stats()
    pulumi.run("up", "--yes")
    assert legacy.stats()["writes"] == before["writes"]
    pulumi.run("preview", "--expect-no-changes")

    # 5. Move the parent's numbers into a tenant.
    sids = parent_numbers(legacy)
    assert set(sids) == set(PARENT_NUMBERS)
    edit(stack_file, move_parent_numbers_into("acme-corp", sids))
    preview = pulumi.run("preview")
    for number, sid in sids.items():
        assert (
            f"PhoneNumber {number} ({sid}): moves from the parent account to tenant 'acme-corp'"
            in preview.output
        ), preview.output
    before = legacy.stats()
    pulumi.run("up", "--yes")
    changed = delta(before, legacy.stats())
    assert NUMBER_BOUGHT not in changed and NUMBER_RELEASED not in changed, changed
    acme = pulumi.outputs()["tenants"]["acme-corp"]["subaccount_sid"]
    moved = legacy.client().api.v2010.accounts(acme).incoming_phone_numbers
    for number, sid in sids.items():
        assert moved(sid).fetch().phone_number == number  # same SID, now in the tenant
    assert parent_numbers(legacy) == {}
    parent_services = [
        s.friendly_name
        for s in legacy.client().messaging.v1.services.list()
        if not s.friendly_name.startswith("[Auto-generated]")
    ]
    assert parent_services == []  # 'Main messaging' removed once its senders moved
    pulumi.run("preview", "--expect-no-changes")

    # 6. Audit again: nothing on the parent but its key; its earlier messages are history.
    again = run_audit("--format", "json", emulator_url=legacy.url).json()
    on_parent = {
        (f["object_kind"], f["object_name"])
        for f in again["findings"]
        if f["rule"] == "no-sending-from-parent"
    }
    assert on_parent == {("ApiKey", "legacy backend")}
    rules = {f["rule"]: f for f in again["findings"]}
    assert "parent-sent-messages" not in rules
    history = rules["parent-sending-history"]
    assert history["level"] == "advisory"
    assert "History: the parent account sent 42 messages between 20" in history["message"]


def test_a_refused_transfer_stops_with_twilios_error_and_leaves_the_number(
    legacy: EmulatorProcess, tmp_path: Path
) -> None:
    pulumi = workspace(tmp_path, legacy)
    stack_file = discover(legacy, pulumi.project_dir, "refused")
    acme = yaml.safe_load(stack_file.read_text())["config"][ARCHITECTURE]["adopt"]["acme-corp"]
    sids = parent_numbers(legacy)
    services = legacy.client().messaging.v1.services
    [main] = [s.sid for s in services.list() if s.friendly_name == "Main messaging"]
    members_before = {m.sid for m in services(main).phone_numbers.list()}
    edit(stack_file, move_parent_numbers_into("acme-corp", sids))
    legacy.set_faults(transfers_require_bundle=[acme])
    pulumi.init_stack("refused")
    up = pulumi.run("up", "--yes", check=False)
    assert up.returncode != 0
    assert "Twilio error 21649" in up.output, up.output
    assert "the number stays there" in up.output
    assert parent_numbers(legacy) == sids  # still on the parent, same SIDs
    members_after = {m.sid for m in services(main).phone_numbers.list()}
    assert members_after == members_before  # back in the parent's service
