"""API keys: v2010 Keys, IAM v1 Keys (standard and restricted), and what keys may reach."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.emulator.conftest import ClientFactory, Tenant
from tests.support.emulator_process import EmulatorProcess


def test_v2010_key_lifecycle(tenant: Tenant, make_client: ClientFactory) -> None:
    keys = tenant.via_parent.api.v2010.accounts(tenant.sid)
    created = keys.new_keys.create(friendly_name="backend")
    assert created.sid.startswith("SK") and len(created.secret) == 32
    listed = keys.keys.list()
    assert [k.sid for k in listed] == [created.sid]
    assert not hasattr(listed[0], "secret")  # the schema check refuses `secret` outside create
    fetched = keys.keys(created.sid).fetch()
    assert fetched.friendly_name == "backend"
    assert keys.keys(created.sid).update(friendly_name="renamed").friendly_name == "renamed"
    # The key authenticates as its account.
    as_key = make_client(created.sid, created.secret, tenant.sid)
    assert as_key.messages.list() == []
    assert keys.keys(created.sid).delete() is True
    with pytest.raises(TwilioRestException) as error:
        keys.keys(created.sid).fetch()
    assert error.value.code == 20404
    with pytest.raises(TwilioException):
        as_key.messages.list()


def test_standard_keys_are_refused_on_accounts_and_keys(
    tenant: Tenant, make_client: ClientFactory
) -> None:
    # Twilio's page for 20003 (401) names this cause: a Standard key where a Main key is needed.
    created = tenant.client.api.v2010.accounts(tenant.sid).new_keys.create(friendly_name="app")
    app = make_client(created.sid, created.secret, tenant.sid)
    with pytest.raises(TwilioRestException) as error:
        app.api.v2010.accounts(tenant.sid).fetch()
    assert (error.value.status, error.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as error:
        app.api.v2010.accounts(tenant.sid).new_keys.create()
    assert (error.value.status, error.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as error:
        app.iam.v1.new_api_key.create(account_sid=tenant.sid)
    assert (error.value.status, error.value.code) == (401, 20003)
    with pytest.raises(TwilioException) as listing:
        app.iam.v1.get_api_keys.list(account_sid=tenant.sid)
    assert listing.value.args[1].status_code == 401
    assert app.messaging.v1.services.list()  # everything else stays open to a standard key


def test_restricted_keys_are_refused_on_accounts_and_keys_with_70051(
    tenant: Tenant, make_client: ClientFactory
) -> None:
    created = tenant.client.iam.v1.new_api_key.create(
        account_sid=tenant.sid,
        key_type="restricted",
        policy={"allow": ["/twilio/messaging/messages/read"]},
    )
    reader = make_client(created.sid, created.secret, tenant.sid)
    with pytest.raises(TwilioRestException) as error:
        reader.api.v2010.accounts(tenant.sid).fetch()
    assert (error.value.status, error.value.code) == (403, 70051)
    with pytest.raises(TwilioRestException) as error:
        reader.iam.v1.api_key(created.sid).fetch()
    assert (error.value.status, error.value.code) == (403, 70051)


def test_main_key_works_like_the_auth_token(
    emulator: EmulatorProcess, make_client: ClientFactory
) -> None:
    minted = emulator.create_main_key()
    main = make_client(minted["sid"], minted["secret"], emulator.account_sid)
    assert main.api.v2010.accounts(emulator.account_sid).fetch().sid == emulator.account_sid
    assert (
        main.api.v2010.accounts(emulator.account_sid).keys(minted["sid"]).fetch().sid
        == minted["sid"]
    )


def test_iam_standard_key(tenant: Tenant) -> None:
    iam = tenant.client.iam.v1
    created = iam.new_api_key.create(account_sid=tenant.sid, friendly_name="std")
    assert created.policy is None and created.secret
    fetched = iam.api_key(created.sid).fetch()
    assert fetched.policy is None and fetched.friendly_name == "std"
    listed = iam.get_api_keys.list(account_sid=tenant.sid)
    assert [(k.sid, k.flags) for k in listed] == [(created.sid, ["rest_api", "signing"])]
    with pytest.raises(TwilioRestException) as error:
        iam.api_key(created.sid).update(policy={"allow": ["/twilio/messaging/messages/read"]})
    assert error.value.status == 400
    assert iam.api_key(created.sid).delete() is True


def test_iam_restricted_key_follows_its_policy(tenant: Tenant, make_client: ClientFactory) -> None:
    read_only = {"allow": ["/twilio/messaging/messages/read"]}
    created = tenant.client.iam.v1.new_api_key.create(
        account_sid=tenant.sid, friendly_name="reader", key_type="restricted", policy=read_only
    )
    assert created.policy == read_only
    reader = make_client(created.sid, created.secret, tenant.sid)
    assert reader.messages.list() == []
    with pytest.raises(TwilioRestException) as error:
        reader.messages.create(to="+14155550100", from_="+14155550101", body="x")
    assert (error.value.status, error.value.code) == (403, 70051)
    assert "Authorization Failed" in error.value.msg
    with pytest.raises(TwilioException):
        reader.messaging.v1.services.list()
    # Widen the policy: services become readable.
    widened = {"allow": [*read_only["allow"], "/twilio/messaging/services/read"]}
    updated = tenant.client.iam.v1.api_key(created.sid).update(policy=widened)
    assert updated.policy == widened
    assert reader.messaging.v1.services.list()
    assert [k.flags for k in tenant.client.iam.v1.get_api_keys.list(account_sid=tenant.sid)] == [
        ["rest_api"]
    ]


def test_iam_restricted_key_needs_a_policy(tenant: Tenant) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.iam.v1.new_api_key.create(account_sid=tenant.sid, key_type="restricted")
    assert error.value.status == 400


@pytest.mark.parametrize(
    "policy",
    [{"allow": []}, {"allow": "x"}, {"allow": [1]}, {"deny": ["/twilio/x"]}, {"allow": ["/other"]}],
)
def test_iam_invalid_policies_are_400(tenant: Tenant, policy: dict) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.iam.v1.new_api_key.create(
            account_sid=tenant.sid, key_type="restricted", policy=policy
        )
    assert error.value.status == 400


def test_iam_keys_act_on_the_signing_account(parent: Client, tenant: Tenant) -> None:
    with pytest.raises(TwilioRestException) as error:
        parent.iam.v1.new_api_key.create(account_sid=tenant.sid)
    assert (error.value.status, error.value.code) == (403, 20403)
    key = tenant.client.iam.v1.new_api_key.create(account_sid=tenant.sid)
    with pytest.raises(TwilioRestException) as error:
        parent.iam.v1.api_key(key.sid).fetch()
    assert error.value.code == 20404


def test_parent_keys_do_not_reach_subaccounts(
    parent: Client, tenant: Tenant, make_client: ClientFactory
) -> None:
    key = parent.api.v2010.accounts(parent.account_sid).new_keys.create(friendly_name="parent-app")
    as_parent_key = make_client(key.sid, key.secret, tenant.sid)
    with pytest.raises(TwilioRestException) as error:
        as_parent_key.messages.create(to="+14155550100", from_="+14155550101", body="x")
    assert (error.value.status, error.value.code) == (401, 20003)
