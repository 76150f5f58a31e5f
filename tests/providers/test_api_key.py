"""ApiKey: standard and restricted keys in a subaccount; the secret only from create; keys
under our tag without state are deleted and minted again, never adopted."""

from __future__ import annotations

import secrets

import pytest
from twilio.base.exceptions import TwilioRestException

from identity_tags import parse_tag
from providers.api_key import ApiKeyProvider
from tests.providers.conftest import STATE_MARK, named
from tests.support.estate import subaccount_client

SEND = "/twilio/messaging/messages/create"
READ = "/twilio/messaging/messages/read"


def key_inputs(account_sid: str, kind: str, permissions=(), rotation: int = 0) -> dict:
    tag = secrets.token_hex(5)
    return {
        "account_key": "acme",
        "account_sid": account_sid,
        "key_name": "backend",
        "kind": kind,
        "permissions": list(permissions),
        "rotation": rotation,
        "friendly_name": named("Acme backend", tag),
        "tag": tag,
        "state_mark": STATE_MARK,
    }


def test_standard_key_lifecycle(configured, emulator, subaccount_sid) -> None:
    provider = configured(ApiKeyProvider)
    props = key_inputs(subaccount_sid, "standard")
    created = provider.create(props)
    assert created.id.startswith("SK") and created.outs["secret"]
    # The key works for the subaccount's own resources.
    app = emulator.client(created.id, created.outs["secret"], subaccount_sid)
    assert app.api.v2010.accounts(subaccount_sid).incoming_phone_numbers.list() == []

    read = provider.read(created.id, created.outs)
    assert read.outs["secret"] == created.outs["secret"]  # kept from create, never re-read
    assert provider.diff(created.id, read.outs, props).changes is False
    rotated = provider.diff(created.id, read.outs, dict(props, rotation=1))
    assert rotated.replaces == ["rotation"]

    provider.delete(created.id, read.outs)
    # A 404 for an object created long ago means gone (a fresh one would be waited for).
    assert provider.read(created.id, dict(read.outs, created_at=0)).id is None


def test_restricted_key_permissions_update_in_place(configured, emulator, subaccount_sid):
    provider = configured(ApiKeyProvider)
    props = key_inputs(subaccount_sid, "restricted", [SEND])
    created = provider.create(props)
    wider = dict(props, permissions=[SEND, READ])
    diff = provider.diff(created.id, created.outs, wider)
    assert diff.changes is True and diff.replaces == []
    updated = provider.update(created.id, created.outs, wider).outs
    assert updated["secret"] == created.outs["secret"]
    policy = subaccount_client(emulator, subaccount_sid).iam.v1.api_key(created.id).fetch().policy
    assert sorted(policy["allow"]) == sorted([SEND, READ])
    assert provider.read(created.id, updated).outs["permissions"] == sorted([SEND, READ])
    assert provider.diff(created.id, updated, dict(props, kind="standard")).replaces == ["kind"]


def test_an_orphan_under_our_tag_is_replaced_not_adopted(
    configured, emulator, subaccount_sid, new_run
):
    provider = configured(ApiKeyProvider)
    props = key_inputs(subaccount_sid, "standard")
    lost = provider.create(props)  # as if the run died before state recorded it
    new_run()
    again = provider.create(props)
    assert again.id != lost.id
    keys = emulator.client().api.v2010.accounts(subaccount_sid).keys
    assert [k.sid for k in keys.list() if parse_tag(k.friendly_name) == props["tag"]] == [again.id]
    with pytest.raises(TwilioRestException):
        keys(lost.id).fetch()


def test_check_explains_bad_keys(configured) -> None:
    provider = configured(ApiKeyProvider)
    restricted = key_inputs("AC" + "0" * 32, "restricted")
    reasons = [f.reason for f in provider.check({}, restricted).failures]
    assert "ApiKey: a restricted key needs at least one permission" in reasons
    bad = dict(restricted, permissions=["messages:create"])
    assert any("not Twilio permissions" in f.reason for f in provider.check({}, bad).failures)
