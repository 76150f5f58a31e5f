"""The A2P traffic gate: off by default; when on, US 10DLC traffic without a verified campaign
ends failed with 30034 (and its status callback says so), and delivers once it is verified."""

from __future__ import annotations

import pytest
from twilio.rest import Client

from emulator.__main__ import build_parser, config_from_args
from tests.emulator.a2p_support import CAMPAIGN, approved_brand, decide, seed_primary, wait_until
from tests.emulator.conftest import Tenant
from tests.support.emulator_process import EmulatorProcess

TO = "+14155550123"
# Recorded, never contacted: the emulator keeps callbacks to other hosts as "undeliverable".
CALLBACK = "https://hooks.example.com/status"


def _final(client: Client, sid: str):
    return wait_until(
        lambda: client.messages(sid).fetch(),
        lambda m: m.status in ("delivered", "undelivered", "failed"),
    )


def _buy(client: Client, kind: str = "local") -> tuple[str, str]:
    """(PN SID, number) bought in the client's account: a local 415 number or a toll-free one."""
    search = client.available_phone_numbers("US")
    if kind == "local":
        found = search.local.list(area_code=415, sms_enabled=True, limit=1)[0]
    else:
        found = search.toll_free.list(limit=1)[0]
    number = client.incoming_phone_numbers.create(phone_number=found.phone_number)
    return number.sid, number.phone_number


@pytest.fixture
def pooled(tenant: Tenant):
    """(service, number) of the tenant: a local US number in the service's sender pool."""
    service = tenant.client.messaging.v1.services.create(friendly_name="reminders")
    number_sid, number = _buy(tenant.client)
    tenant.client.messaging.v1.services(service.sid).phone_numbers.create(
        phone_number_sid=number_sid
    )
    return service, number


def test_gating_is_off_by_default(emulator: EmulatorProcess, tenant: Tenant, pooled) -> None:
    assert emulator.faults()["a2p_gating"] is False
    args = build_parser().parse_args([])
    assert config_from_args(args).settings.a2p_gating is False
    assert config_from_args(build_parser().parse_args(["--a2p-gating"])).settings.a2p_gating
    _service, number = pooled
    message = tenant.client.messages.create(to=TO, from_=number, body="unregistered but allowed")
    assert _final(tenant.client, message.sid).status == "delivered"


def test_unregistered_10dlc_fails_until_the_campaign_is_verified(
    emulator: EmulatorProcess, parent: Client, tenant: Tenant, pooled
) -> None:
    emulator.set_faults(a2p_gating=True)
    service, number = pooled
    blocked = tenant.client.messages.create(
        to=TO,
        messaging_service_sid=service.sid,
        body="before registration",
        status_callback=CALLBACK,
    )
    failed = _final(tenant.client, blocked.sid)
    assert (failed.status, failed.error_code) == ("failed", 30034)
    final_callback = wait_until(
        lambda: emulator.callbacks(message_sid=blocked.sid),
        lambda events: any(e["params"]["MessageStatus"] == "failed" for e in events),
    )[-1]
    assert final_callback["params"]["ErrorCode"] == "30034"
    assert final_callback["params"]["From"] == number

    registration = approved_brand(
        emulator, tenant.client, seed_primary(emulator, parent.account_sid)
    )
    campaign = tenant.client.messaging.v1.services(service.sid).us_app_to_person.create(
        brand_registration_sid=registration.brand_sid, **CAMPAIGN
    )
    pending = tenant.client.messages.create(to=TO, from_=number, body="campaign still pending")
    assert _final(tenant.client, pending.sid).error_code == 30034
    decide(emulator, campaign.sid, "approve")
    sent = tenant.client.messages.create(
        to=TO, messaging_service_sid=service.sid, body="after registration"
    )
    assert _final(tenant.client, sent.sid).status == "delivered"


def test_gate_spares_toll_free_numbers(emulator: EmulatorProcess, tenant: Tenant) -> None:
    emulator.set_faults(a2p_gating=True)
    _sid, number = _buy(tenant.client, "toll-free")
    message = tenant.client.messages.create(to=TO, from_=number, body="toll-free")
    assert _final(tenant.client, message.sid).status == "delivered"
