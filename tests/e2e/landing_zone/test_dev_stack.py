"""The dev stack through the real CLI against the emulator: up, a no-change preview that makes
no Twilio call, in-place updates, drift found by refresh and undone by up, traffic with the
tenant's own key reaching the status callback, no secret in state or output, destroy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.callback_receiver import CallbackReceiver
from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.estate import estate, subaccount_client
from tests.support.pulumi_cli import PulumiWorkspace, copy_program

pytestmark = pytest.mark.e2e

DEV_COLLECTOR = "http://127.0.0.1:4020/twilio/status"
TWILIO_REQUEST = re.compile(r"^(GET|POST|DELETE) /(api|messaging|iam)/")


def twilio_calls(emulator: EmulatorProcess) -> int:
    routes = emulator.stats()["routes"]
    return sum(count for route, count in routes.items() if TWILIO_REQUEST.match(route))


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as running:
        yield running


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with running_emulator(tmp_path / "emulator", extra_args=["--lifecycle-step-ms", "20"]) as emu:
        yield emu


@pytest.fixture
def dev(tmp_path: Path, emulator: EmulatorProcess, receiver: CallbackReceiver) -> PulumiWorkspace:
    project = copy_program(tmp_path / "project")
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace(DEV_COLLECTOR, receiver.url()))
    workspace = PulumiWorkspace(
        project_dir=project,
        state_dir=tmp_path / "state",
        extra_env={"TWILIO_EMULATOR_URL": emulator.url},
    )
    workspace.init_stack("dev")
    return workspace


def edit_stack(workspace: PulumiWorkspace, old: str, new: str, count: int = 1) -> None:
    path = workspace.project_dir / "Pulumi.dev.yaml"
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not in the stack file"
    path.write_text(text.replace(old, new, count))


def test_dev_stack_lifecycle(
    dev: PulumiWorkspace, emulator: EmulatorProcess, receiver: CallbackReceiver
) -> None:
    up = dev.run("up", "--yes", "--skip-preview")
    assert "using the local Twilio emulator at" in up.output
    accounts = estate(emulator)
    assert sorted(a.status for a in accounts.values()) == ["active", "active"]
    by_name = {a.friendly_name.split(" [")[0]: a for a in accounts.values()}
    staging = by_name["Appointly shared (staging)"]
    development = by_name["Appointly shared (development)"]
    assert {s.use_case for s in staging.services if "[tlz:" in s.friendly_name} == {
        "notifications",
        "verification",
        "marketing",
    }
    notifications = development.service("notifications")
    assert len(notifications.phone_number_sids) == 2
    assert notifications.phone_number_sids <= set(development.numbers)
    # Every service, the auto-generated default one included, reports to the collector.
    assert {s.status_callback for a in accounts.values() for s in a.services} == {receiver.url()}
    assert len(development.keys) == 1

    # A no-change preview: nothing to do, and not one Twilio call.
    before = twilio_calls(emulator)
    preview = dev.run("preview", "--expect-no-changes")
    assert "34 unchanged" in preview.output
    assert twilio_calls(emulator) == before

    # Renaming a tenant updates the subaccount in place; the SID stays.
    edit_stack(dev, "display_name: Appointly shared", "display_name: Appointly internal", 2)
    rename = dev.run("up", "--yes", "--skip-preview")
    assert "replaced" not in rename.output
    renamed = estate(emulator)
    assert set(renamed) == set(accounts)
    assert renamed[development.sid].friendly_name.startswith("Appointly internal (development)")

    # A service setting changes in place, the use case too.
    edit_stack(dev, "validity_period: 600", "validity_period: 900")
    setting = dev.run("up", "--yes", "--skip-preview")
    assert "1 updated" in setting.output and "replaced" not in setting.output
    verification = estate(emulator)[development.sid].service("verification")
    assert verification.validity_period == 900

    # Drift made in the console (here: the emulator) is found by refresh and undone by up.
    subaccount_client(emulator, development.sid).messaging.v1.services(notifications.sid).update(
        inbound_request_url="https://elsewhere.example/hook"
    )
    refresh = dev.run("refresh", "--yes", "--skip-preview")
    assert "1 updated" in refresh.output
    restore = dev.run("up", "--yes", "--skip-preview")
    assert "1 updated" in restore.output
    restored = estate(emulator)[development.sid].service("notifications")
    assert restored.inbound_request_url == "http://localhost:8000/twilio/inbound"

    # The tenant's own exported key sends through each of its services; the status callbacks
    # reach the configured URL, signed.
    outputs = dev.outputs(show_secrets=True)
    tenant = outputs["tenants"]["shared-dev"]
    secret = outputs["api_key_secrets"]["shared-dev"]["backend"]
    app = emulator.client(tenant["api_key_sids"]["backend"], secret, tenant["subaccount_sid"])
    sent = [
        app.messages.create(to="+15005550006", messaging_service_sid=sid, body="Your code").sid
        for sid in tenant["service_sids"].values()
    ]
    for message_sid in sent:
        delivered = receiver.wait_for(
            lambda r, sid=message_sid: (
                r.params.get("MessageSid") == sid and r.params.get("MessageStatus") == "delivered"
            ),
            timeout=20,
        )
        assert delivered.headers.get("X-Twilio-Signature")

    # No auth token (parent or subaccount) and no key secret in state or in any output.
    tokens = [emulator.auth_token] + [
        emulator.client().api.v2010.accounts(sid).fetch().auth_token for sid in accounts
    ]
    secrets = [secret, outputs["api_key_secrets"]["shared-staging"]["backend"]]
    state = dev.state_text()
    # Everything the CLI printed, except the one command that was asked to show secrets.
    printed = "\n".join(r.output for r in dev.transcript if "--show-secrets" not in r.args)
    for value in tokens + secrets:
        assert value not in state
        assert value not in printed

    # destroy closes the dev subaccounts (their numbers are released first: dev allows it).
    dev.run("destroy", "--yes", "--skip-preview")
    closed = estate(emulator)
    assert {a.status for a in closed.values()} == {"closed"}
    assert all(not a.numbers for a in closed.values())
