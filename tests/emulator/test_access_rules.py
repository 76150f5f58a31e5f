"""Twilio's access rules: credentials, parent over subaccount, v1 on the signing account."""

from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.emulator.conftest import ClientFactory, Tenant, buy_number
from tests.support.emulator_process import EmulatorProcess


def test_wrong_token_is_20003(make_client: ClientFactory, emulator: EmulatorProcess) -> None:
    wrong = make_client(emulator.account_sid, "0" * 32)
    with pytest.raises(TwilioRestException) as error:
        wrong.api.v2010.accounts(emulator.account_sid).fetch()
    assert (error.value.status, error.value.code) == (401, 20003)
    assert "Authentication Error - invalid username" in error.value.msg
    # List calls surface only "Unable to fetch page", with the raw answer attached.
    with pytest.raises(TwilioException) as listing:
        wrong.messages.list()
    assert listing.value.args[1].status_code == 401


def test_unknown_username_is_20003(make_client: ClientFactory) -> None:
    for username in ("AC" + "9" * 32, "SK" + "9" * 32, "not-a-sid"):
        with pytest.raises(TwilioRestException) as error:
            make_client(username, "secret", "AC" + "9" * 32).messages.create(
                to="+14155550100", body="x", from_="+14155550101"
            )
        assert error.value.code == 20003


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer abc", "Basic !!!", "Basic " + "QUM=", "Basic " + "w6k6w6k="],
)
def test_malformed_authorization_is_401(
    emulator: EmulatorProcess, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(
        f"{emulator.url}/api/2010-04-01/Accounts.json", headers=headers, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_parent_token_reaches_subaccount_resources(parent: Client, tenant: Tenant) -> None:
    number_sid = buy_number(tenant.via_parent)
    assert [n.sid for n in parent.api.v2010.accounts(tenant.sid).incoming_phone_numbers.list()] == [
        number_sid
    ]
    assert parent.api.v2010.accounts(tenant.sid).keys.list() == []


def test_subaccount_reaches_neither_parent_nor_sibling(parent: Client, make_tenant) -> None:
    first, second = make_tenant("first"), make_tenant("second")
    with pytest.raises(TwilioException) as listing:
        first.client.api.v2010.accounts(parent.account_sid).incoming_phone_numbers.list()
    assert listing.value.args[1].status_code == 401
    with pytest.raises(TwilioRestException) as error:
        first.client.api.v2010.accounts(second.sid).fetch()
    assert error.value.code == 20003
    with pytest.raises(TwilioRestException) as error:
        first.client.api.v2010.accounts(second.sid).new_keys.create()
    assert error.value.code == 20003


def test_unrelated_accounts_are_not_found(tenant: Tenant) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.api.v2010.accounts("AC" + "5" * 32).fetch()
    assert error.value.code == 20404


def test_messaging_v1_acts_on_the_signing_account(parent: Client, tenant: Tenant) -> None:
    mine = tenant.client.messaging.v1.services.create(friendly_name="mine")
    # account_sid on the client does not change whose services v1 sees.
    parent_aimed_at_tenant = tenant.via_parent
    assert mine.sid not in {s.sid for s in parent_aimed_at_tenant.messaging.v1.services.list()}
    with pytest.raises(TwilioRestException) as error:
        parent_aimed_at_tenant.messaging.v1.services(mine.sid).update(friendly_name="stolen")
    assert error.value.code == 20404
    assert {s.account_sid for s in tenant.client.messaging.v1.services.list()} == {tenant.sid}


def test_closed_account_credentials_stop_working(parent: Client, tenant: Tenant) -> None:
    parent.api.v2010.accounts(tenant.sid).update(status="closed")
    with pytest.raises(TwilioRestException) as error:
        tenant.client.api.v2010.accounts(tenant.sid).fetch()
    assert error.value.code == 20003
    assert parent.api.v2010.accounts(tenant.sid).fetch().status == "closed"


def test_key_of_a_closed_account_stops_working(
    parent: Client, tenant: Tenant, make_client: ClientFactory
) -> None:
    key = tenant.client.api.v2010.accounts(tenant.sid).new_keys.create()
    app = make_client(key.sid, key.secret, tenant.sid)
    assert app.messages.list() == []
    parent.api.v2010.accounts(tenant.sid).update(status="closed")
    with pytest.raises(TwilioException):
        app.messages.list()


def test_wrong_key_secret_is_20003(tenant: Tenant, make_client: ClientFactory) -> None:
    key = tenant.client.api.v2010.accounts(tenant.sid).new_keys.create()
    with pytest.raises(TwilioRestException) as error:
        make_client(key.sid, "x" * 32, tenant.sid).messaging.v1.services.create(friendly_name="x")
    assert error.value.code == 20003
