"""AvailablePhoneNumbers search, IncomingPhoneNumbers purchase/update/release/move, short codes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.emulator.conftest import Tenant, buy_number
from tests.support.emulator_process import EmulatorProcess


def test_country_list_and_fetch(tenant: Tenant) -> None:
    countries = tenant.client.available_phone_numbers.list()
    assert {c.country_code for c in countries} == {"US", "CA"}
    us = tenant.client.available_phone_numbers("US").fetch()
    assert us.country == "United States"
    assert set(us.subresource_uris) == {"local", "toll_free"}
    with pytest.raises(TwilioRestException) as error:
        tenant.client.available_phone_numbers("ZZ").fetch()
    assert error.value.code == 20404


def test_local_search_honours_area_code_contains_and_sms(tenant: Tenant) -> None:
    found = tenant.client.available_phone_numbers("US").local.list(
        area_code=415, contains="STORM", sms_enabled=True, limit=5
    )
    assert len(found) == 5
    for number in found:
        assert number.phone_number.startswith("+1415")
        assert "78676" in number.phone_number[2:]  # STORM on a keypad
        assert number.capabilities["sms"] is True
        assert number.region == "CA" and number.iso_country == "US"
    voice_only = tenant.client.available_phone_numbers("US").local.list(
        area_code=415, sms_enabled=False, limit=3
    )
    assert voice_only and all(n.capabilities["sms"] is False for n in voice_only)


def test_search_is_deterministic_and_skips_owned_numbers(tenant: Tenant) -> None:
    first = [
        n.phone_number
        for n in tenant.client.available_phone_numbers("US").local.list(area_code=510, limit=3)
    ]
    again = [
        n.phone_number
        for n in tenant.client.available_phone_numbers("US").local.list(area_code=510, limit=3)
    ]
    assert first == again
    tenant.client.incoming_phone_numbers.create(phone_number=first[0])
    after = [
        n.phone_number
        for n in tenant.client.available_phone_numbers("US").local.list(area_code=510, limit=3)
    ]
    assert first[0] not in after


def test_toll_free_search(tenant: Tenant) -> None:
    found = tenant.client.available_phone_numbers("US").toll_free.list(contains="888", limit=4)
    assert len(found) == 4
    assert all(
        n.phone_number[2:5] in {"800", "833", "844", "855", "866", "877", "888"} for n in found
    )
    assert all("888" in n.phone_number[2:] for n in found)


def test_unknown_area_code_gives_no_numbers(tenant: Tenant) -> None:
    assert tenant.client.available_phone_numbers("US").local.list(area_code=999) == []


def test_bad_contains_is_400(tenant: Tenant) -> None:
    with pytest.raises(TwilioException) as error:
        tenant.client.available_phone_numbers("US").local.list(contains="1")
    assert error.value.args[1].status_code == 400


def test_purchase_by_phone_number_and_by_area_code(tenant: Tenant) -> None:
    candidate = tenant.client.available_phone_numbers("US").local.list(
        area_code=212, sms_enabled=True, limit=1
    )[0]
    bought = tenant.client.incoming_phone_numbers.create(phone_number=candidate.phone_number)
    assert bought.phone_number == candidate.phone_number
    assert bought.sid.startswith("PN") and bought.status == "in-use"
    assert bought.friendly_name == candidate.friendly_name
    assert bought.capabilities == {"voice": True, "sms": True, "mms": True, "fax": False}
    by_area = tenant.client.incoming_phone_numbers.create(area_code="646")
    assert by_area.phone_number.startswith("+1646")
    assert (
        by_area.uri == f"/2010-04-01/Accounts/{tenant.sid}/IncomingPhoneNumbers/{by_area.sid}.json"
    )


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"phone_number": "4155550100"}, 21421),
        ({"phone_number": "+19995550100"}, 21422),
        ({"area_code": "12"}, 21451),
        ({"area_code": "999"}, 21452),
        ({}, 21421),
    ],
)
def test_purchase_errors(tenant: Tenant, params: dict, code: int) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.incoming_phone_numbers.create(**params)
    assert (error.value.status, error.value.code) == (400, code)


def test_a_number_cannot_be_bought_twice(tenant: Tenant, parent: Client) -> None:
    sid = buy_number(tenant.client)
    phone = tenant.client.incoming_phone_numbers(sid).fetch().phone_number
    with pytest.raises(TwilioRestException) as error:
        parent.incoming_phone_numbers.create(phone_number=phone)
    assert error.value.code == 21422


def test_update_webhook_fields_and_clear_them(tenant: Tenant) -> None:
    sid = buy_number(tenant.client)
    updated = tenant.client.incoming_phone_numbers(sid).update(
        friendly_name="support line",
        sms_url="https://hooks.example.com/sms",
        sms_method="GET",
        sms_fallback_url="https://hooks.example.com/fallback",
        voice_url="https://hooks.example.com/voice",
        voice_receive_mode="fax",
        status_callback="https://hooks.example.com/status",
        status_callback_method="GET",
        voice_caller_id_lookup=True,
        emergency_status="Active",
    )
    assert updated.friendly_name == "support line"
    assert (updated.sms_url, updated.sms_method) == ("https://hooks.example.com/sms", "GET")
    assert updated.voice_receive_mode == "fax" and updated.voice_caller_id_lookup is True
    assert updated.emergency_status == "Active"
    cleared = tenant.client.incoming_phone_numbers(sid).update(sms_url="")
    assert cleared.sms_url is None
    assert cleared.sms_fallback_url == "https://hooks.example.com/fallback"


def test_bad_webhook_values_are_400(tenant: Tenant) -> None:
    sid = buy_number(tenant.client)
    with pytest.raises(TwilioRestException) as error:
        tenant.client.incoming_phone_numbers(sid).update(sms_url="not a url")
    assert error.value.code == 21402
    with pytest.raises(TwilioRestException) as error:
        tenant.client.incoming_phone_numbers(sid).update(sms_method="PUT")
    assert error.value.code == 21403


def test_list_filters(tenant: Tenant) -> None:
    sid = buy_number(tenant.client, area_code=303)
    record = tenant.client.incoming_phone_numbers(sid).update(friendly_name="denver")
    by_name = tenant.client.incoming_phone_numbers.list(friendly_name="denver")
    assert [n.sid for n in by_name] == [sid]
    partial = record.phone_number[2:9]
    by_number = tenant.client.incoming_phone_numbers.list(phone_number=partial)
    assert [n.sid for n in by_number] == [sid]
    wildcard = "+1303" + "*" * 7
    assert sid in {n.sid for n in tenant.client.incoming_phone_numbers.list(phone_number=wildcard)}
    assert sid in {n.sid for n in tenant.client.incoming_phone_numbers.local.list()}
    assert tenant.client.incoming_phone_numbers.toll_free.list() == []


def test_typed_purchase_endpoints(tenant: Tenant) -> None:
    toll_free = tenant.client.available_phone_numbers("US").toll_free.list(limit=1)[0]
    bought = tenant.client.incoming_phone_numbers.toll_free.create(
        phone_number=toll_free.phone_number
    )
    assert bought.phone_number == toll_free.phone_number
    assert tenant.client.incoming_phone_numbers(bought.sid).fetch().type == "toll-free"
    local = tenant.client.available_phone_numbers("US").local.list(limit=1)[0]
    with pytest.raises(TwilioRestException) as error:
        tenant.client.incoming_phone_numbers.toll_free.create(phone_number=local.phone_number)
    assert error.value.code == 21422


def test_release_returns_the_number_to_inventory(tenant: Tenant) -> None:
    sid = buy_number(tenant.client, area_code=617)
    phone = tenant.client.incoming_phone_numbers(sid).fetch().phone_number
    assert tenant.client.incoming_phone_numbers(sid).delete() is True
    with pytest.raises(TwilioRestException) as error:
        tenant.client.incoming_phone_numbers(sid).fetch()
    assert error.value.code == 20404
    again = tenant.client.incoming_phone_numbers.create(phone_number=phone)
    assert again.sid != sid


def test_parent_moves_a_number_into_a_subaccount(parent: Client, tenant: Tenant) -> None:
    sid = buy_number(parent)
    moved = parent.incoming_phone_numbers(sid).update(account_sid=tenant.sid)
    assert moved.account_sid == tenant.sid
    assert tenant.client.incoming_phone_numbers(sid).fetch().account_sid == tenant.sid
    with pytest.raises(TwilioRestException) as error:
        tenant.client.incoming_phone_numbers(sid).update(account_sid=parent.account_sid)
    assert error.value.code == 21474
    with pytest.raises(TwilioRestException) as error:
        tenant.via_parent.incoming_phone_numbers(sid).update(account_sid="AC" + "1" * 32)
    assert error.value.code == 21473


def test_short_codes_are_provisioned_then_listed(emulator: EmulatorProcess, tenant: Tenant) -> None:
    provisioned = emulator.provision_short_code(tenant.sid)
    codes = tenant.client.short_codes.list()
    assert [c.sid for c in codes] == [provisioned["sid"]]
    fetched = tenant.client.short_codes(provisioned["sid"]).fetch()
    assert fetched.short_code == provisioned["short_code"]
    updated = tenant.client.short_codes(provisioned["sid"]).update(
        friendly_name="promo", sms_url="https://hooks.example.com/sc"
    )
    assert (updated.friendly_name, updated.sms_url) == ("promo", "https://hooks.example.com/sc")


def test_a_number_moves_between_two_subaccounts_keeping_its_sid_and_webhooks(
    parent: Client, make_tenant: Callable[[str], Tenant]
) -> None:
    losing, gaining = make_tenant("losing"), make_tenant("gaining")
    sid = buy_number(parent)
    parent.incoming_phone_numbers(sid).update(
        account_sid=losing.sid, sms_url="https://hooks.example.com/in"
    )
    moved = losing.via_parent.incoming_phone_numbers(sid).update(account_sid=gaining.sid)
    assert (moved.sid, moved.account_sid) == (sid, gaining.sid)
    kept = gaining.client.incoming_phone_numbers(sid).fetch()
    assert kept.sms_url == "https://hooks.example.com/in"
    with pytest.raises(TwilioRestException) as error:
        losing.client.incoming_phone_numbers(sid).fetch()
    assert error.value.code == 20404


def test_a_transfer_needing_a_bundle_is_refused_and_leaves_the_number(
    emulator: EmulatorProcess, parent: Client, tenant: Tenant
) -> None:
    sid = buy_number(parent)
    emulator.set_faults(transfers_require_bundle=[tenant.sid])
    with pytest.raises(TwilioRestException) as error:
        parent.incoming_phone_numbers(sid).update(account_sid=tenant.sid)
    assert (error.value.status, error.value.code) == (400, 21649)
    assert parent.incoming_phone_numbers(sid).fetch().account_sid == parent.account_sid
