"""v2010 Accounts through the official client: subaccounts, updates, status rules."""

from __future__ import annotations

import re

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.emulator.conftest import ClientFactory, Tenant, buy_number
from tests.support.emulator_process import EmulatorProcess


def test_parent_account_is_the_documented_bootstrap(
    parent: Client, emulator: EmulatorProcess
) -> None:
    account = parent.api.v2010.accounts(emulator.account_sid).fetch()
    assert account.sid == emulator.account_sid
    assert account.owner_account_sid == emulator.account_sid
    assert account.status == "active"
    assert account.type == "Full"
    assert account.auth_token == emulator.auth_token
    assert account.uri == f"/2010-04-01/Accounts/{emulator.account_sid}.json"
    assert account.subresource_uris["messages"].endswith("/Messages.json")


def test_create_subaccount_with_default_name(parent: Client, emulator: EmulatorProcess) -> None:
    account = parent.api.v2010.accounts.create()
    assert re.fullmatch(r"AC[0-9a-f]{32}", account.sid)
    assert re.fullmatch(
        r"SubAccount Created at \d{4}-\d{2}-\d{2} \d{2}:\d{2} (am|pm)", account.friendly_name
    )
    assert account.owner_account_sid == emulator.account_sid
    assert re.fullmatch(r"[0-9a-f]{32}", account.auth_token)
    assert account.date_created is not None


def test_list_filters_by_friendly_name_and_status(parent: Client, make_tenant) -> None:
    tenant = make_tenant("list-filter-unique")
    found = parent.api.v2010.accounts.list(friendly_name="list-filter-unique")
    assert [a.sid for a in found] == [tenant.sid]
    parent.api.v2010.accounts(tenant.sid).update(status="suspended")
    suspended = {a.sid for a in parent.api.v2010.accounts.list(status="suspended")}
    assert tenant.sid in suspended
    everyone = {a.sid for a in parent.api.v2010.accounts.list()}
    assert parent.account_sid in everyone and tenant.sid in everyone


def test_subaccount_lists_only_itself(tenant: Tenant) -> None:
    assert [a.sid for a in tenant.client.api.v2010.accounts.list()] == [tenant.sid]


def test_update_friendly_name_and_status(parent: Client, tenant: Tenant) -> None:
    updated = parent.api.v2010.accounts(tenant.sid).update(friendly_name="renamed")
    assert updated.friendly_name == "renamed"
    assert parent.api.v2010.accounts(tenant.sid).update(status="suspended").status == "suspended"
    assert parent.api.v2010.accounts(tenant.sid).update(status="active").status == "active"


def test_closed_is_final_and_releases_numbers(parent: Client, tenant: Tenant) -> None:
    number_sid = buy_number(tenant.via_parent)
    phone = tenant.via_parent.incoming_phone_numbers(number_sid).fetch().phone_number
    closed = parent.api.v2010.accounts(tenant.sid).update(status="closed")
    assert closed.status == "closed"
    assert parent.api.v2010.accounts(tenant.sid).fetch().status == "closed"
    assert tenant.via_parent.incoming_phone_numbers.list() == []
    with pytest.raises(TwilioRestException) as error:
        parent.api.v2010.accounts(tenant.sid).update(status="active")
    assert (error.value.status, error.value.code) == (400, 21479)
    # The released number is back in inventory: someone else can buy it.
    assert parent.incoming_phone_numbers.create(phone_number=phone).phone_number == phone


def test_main_account_status_cannot_change(parent: Client, emulator: EmulatorProcess) -> None:
    with pytest.raises(TwilioRestException) as error:
        parent.api.v2010.accounts(emulator.account_sid).update(status="suspended")
    assert error.value.code == 21477


def test_subaccount_cannot_change_its_own_status(tenant: Tenant) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.api.v2010.accounts(tenant.sid).update(status="closed")
    assert (error.value.status, error.value.code) == (403, 20403)


def test_invalid_status_is_21475(parent: Client, tenant: Tenant) -> None:
    with pytest.raises(TwilioRestException) as error:
        parent.api.v2010.accounts(tenant.sid).update(status="frozen")
    assert error.value.code == 21475


def test_subaccounts_cannot_own_subaccounts(tenant: Tenant) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.api.v2010.accounts.create(friendly_name="nested")
    assert (error.value.status, error.value.code) == (400, 21101)


def test_unknown_account_is_20404(parent: Client) -> None:
    with pytest.raises(TwilioRestException) as error:
        parent.api.v2010.accounts("AC" + "0" * 32).fetch()
    assert (error.value.status, error.value.code) == (404, 20404)


def test_friendly_name_longer_than_64_is_refused(parent: Client) -> None:
    with pytest.raises(TwilioRestException) as error:
        parent.api.v2010.accounts.create(friendly_name="x" * 65)
    assert error.value.status == 400


def test_every_account_gets_a_default_messaging_service(
    tenant: Tenant, make_client: ClientFactory
) -> None:
    services = tenant.client.messaging.v1.services.list()
    assert [s.friendly_name for s in services] == ["[Auto-generated] Default Messaging Service"]
