"""Bring an existing account under the stack, through the real CLI against the emulator's
seeded legacy estate: discover, adopt with zero creating POSTs, deletes or releases, a
second preview with no changes, a key rotation that mints a managed key, a destroy that
leaves every number and account in place, and bad adopt input refused naming the resource
with nothing written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.estate.support import seeded_emulator
from tests.support.adoption import ARCHITECTURE, delta, discover, edit, workspace
from tests.support.emulator_process import EmulatorProcess

pytestmark = pytest.mark.e2e

# A POST to a collection creates (a number bought, a key minted, a service made); a POST to
# one object's own path updates it.
INSTANCE = re.compile(r"\{(Sid|AccountSid)\}(\.json)?$")


def creating_posts(routes: dict[str, int]) -> dict[str, int]:
    return {
        route: count
        for route, count in routes.items()
        if route.startswith("POST ") and not INSTANCE.search(route)
    }


def deletes(routes: dict[str, int]) -> dict[str, int]:
    return {route: count for route, count in routes.items() if route.startswith("DELETE ")}


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with seeded_emulator(tmp_path / "emulator") as emulator:
        yield emulator


def numbers_everywhere(emulator: EmulatorProcess) -> dict[str, tuple[str, str]]:
    """PN SID -> (account SID, E.164) across the parent and its subaccounts."""
    parent = emulator.client()
    found = {}
    for account in parent.api.v2010.accounts.list(page_size=1000):
        if account.status == "closed":
            continue
        for number in parent.api.v2010.accounts(account.sid).incoming_phone_numbers.list():
            found[number.sid] = (account.sid, number.phone_number)
    return found


def account_statuses(emulator: EmulatorProcess) -> dict[str, str]:
    return {a.sid: a.status for a in emulator.client().api.v2010.accounts.list(page_size=1000)}


def test_the_discovered_estate_is_adopted_without_a_change(
    legacy: EmulatorProcess, tmp_path: Path
) -> None:
    pulumi = workspace(tmp_path, legacy)
    stack_file = discover(legacy, pulumi.project_dir, "legacy")
    adopt = yaml.safe_load(stack_file.read_text())["config"][ARCHITECTURE]["adopt"]
    numbers_before = numbers_everywhere(legacy)
    accounts_before = account_statuses(legacy)
    pulumi.init_stack("legacy")

    preview = pulumi.run("preview", "--diff")
    # The preview shows which existing object each resource adopts.
    for sid in adopt.values():
        assert sid in preview.output, sid
    assert preview.output.count("adopt_sid") >= len(adopt)

    before = legacy.stats()
    up = pulumi.run("up", "--yes")
    after = legacy.stats()
    assert after["writes"] == before["writes"], delta(before, after)
    assert "without its secret" in up.output
    outputs = pulumi.outputs(show_secrets=True)
    assert outputs["api_key_secrets"]["acme-corp"] == {"acme-web": None, "acme-worker": None}

    second = pulumi.run("preview", "--expect-no-changes")
    assert "26 unchanged" in second.output, second.output
    # Adopted objects keep the names users see: no identity tag anywhere.
    assert not any("[tlz:" in name for name in _names(legacy))

    # A rotation bump mints a managed key (restricted, as production wants), then deletes the
    # adopted one.
    def rotate(architecture: dict) -> None:
        key = architecture["tenants"][0]["api_keys"][0]
        key.update(kind="restricted", permissions=["/twilio/messaging/messages/create"])
        key["rotation"] = 1

    edit(stack_file, rotate)
    before = legacy.stats()
    pulumi.run("up", "--yes")
    changed = delta(before, legacy.stats())
    assert sum(creating_posts(changed).values()) == 1, changed
    assert sum(deletes(changed).values()) == 1, changed
    secret = pulumi.outputs(show_secrets=True)["api_key_secrets"]["acme-corp"]["acme-web"]
    assert secret
    assert (
        pulumi.outputs()["tenants"]["acme-corp"]["api_key_sids"]["acme-web"]
        != adopt["acme-corp-key-acme-web"]
    )

    # destroy hands the estate back: no number released, no account closed (production ones
    # are protected, as for created objects; unprotected here to prove the rest).
    pulumi.run("state", "unprotect", "--all", "--yes")
    before = legacy.stats()
    pulumi.run("destroy", "--yes")
    changed = delta(before, legacy.stats())
    assert not [route for route in deletes(changed) if "IncomingPhoneNumbers" in route], changed
    assert numbers_everywhere(legacy) == numbers_before
    assert account_statuses(legacy) == accounts_before


def _names(emulator: EmulatorProcess) -> list[str]:
    parent = emulator.client()
    names = []
    for account in parent.api.v2010.accounts.list(page_size=1000):
        names.append(account.friendly_name)
        if account.status == "closed":
            continue
        numbers = parent.api.v2010.accounts(account.sid).incoming_phone_numbers.list()
        names += [number.friendly_name for number in numbers]
        token = parent.api.v2010.accounts(account.sid).fetch().auth_token
        services = emulator.client(account.sid, token).messaging.v1.services.list()
        names += [service.friendly_name for service in services]
        names += [k.friendly_name for k in parent.api.v2010.accounts(account.sid).keys.list()]
    return names


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "missing",
            r"PhoneNumber '\+12062000000': cannot adopt PN0{32}: tenant 'test-account' "
            r"\(AC[0-9a-f]{32}\) holds no such object",
        ),
        (
            "other-account",
            r"MessagingService 'acme-corp/notifications': cannot adopt MG[0-9a-f]{32}: tenant "
            r"'acme-corp' \(AC[0-9a-f]{32}\) holds no such object",
        ),
        (
            "twice",
            r"adopt\.test-account-svc-notifications: the SID MG[0-9a-f]{32} is already "
            r"adopted by 'acme-corp-svc-notifications'",
        ),
    ],
)
def test_bad_adopt_input_names_the_resource_and_writes_nothing(
    legacy: EmulatorProcess, tmp_path: Path, case: str, expected: str
) -> None:
    pulumi = workspace(tmp_path, legacy)
    stack_file = discover(legacy, pulumi.project_dir, "bad")

    def spoil(architecture: dict) -> None:
        adopt = architecture["adopt"]
        if case == "missing":
            adopt["test-account-num-12062000000"] = "PN" + "0" * 32
        elif case == "other-account":
            adopt["acme-corp-svc-notifications"] = adopt["bayside-dental-prod-svc-marketing"]
            del adopt["bayside-dental-prod-svc-marketing"]
            architecture["tenants"][1]["services"] = []
            architecture["tenants"][1]["api_keys"] = []
            del adopt["bayside-dental-prod-key-bayside-app"]
            del adopt["bayside-dental-prod-num-16172000000"]
        else:
            adopt["test-account-svc-notifications"] = adopt["acme-corp-svc-notifications"]

    edit(stack_file, spoil)
    pulumi.init_stack("bad")
    before = legacy.stats()
    up = pulumi.run("up", "--yes", check=False)
    assert up.returncode != 0
    assert re.search(expected, up.output), up.output
    assert legacy.stats()["writes"] == before["writes"]
