"""no-sending-from-parent: nothing that sends lives on the parent account."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.policies.harness import UNKNOWN_STRING_VALUE, check_resource, messages
from twilio_guardrails import tokens
from twilio_guardrails.accounts import no_sending_from_parent

SENDING = [tokens.MESSAGING_SERVICE, tokens.PHONE_NUMBER, tokens.SENDER_POOL]


@pytest.mark.parametrize("token", SENDING)
def test_a_tenant_may_send(token: str) -> None:
    props = {"account_key": "acme", "use_case": "notifications"}
    assert check_resource(no_sending_from_parent, token, "acme-thing", props) == []


@pytest.mark.parametrize("token", SENDING)
def test_the_parent_never_sends(token: str) -> None:
    props = {"account_key": "parent", "use_case": "notifications"}
    [violation] = check_resource(no_sending_from_parent, token, "parent-thing", props)
    kind = tokens.kind_of(token)
    assert violation.message.startswith(f"{kind} 'parent-thing' ")
    assert "on the parent account (account_key 'parent')" in violation.message
    assert "set account_key to the tenant key" in violation.message


@pytest.mark.parametrize("account_key", [None, ""])
def test_a_sender_without_account_key_is_refused(account_key: str | None) -> None:
    props = {"account_key": account_key, "use_case": "marketing"}
    violations = check_resource(
        no_sending_from_parent, tokens.MESSAGING_SERVICE, "orphan-svc", props
    )
    assert messages(violations) == [
        "MessagingService 'orphan-svc' has no account_key, so nothing shows it is outside the "
        "parent account: set account_key to the key of the tenant whose subaccount it belongs "
        "to."
    ]


def test_the_parents_auto_generated_default_service_is_not_refused() -> None:
    # Twilio creates it in every account and it cannot be deleted; a status callback on it
    # sends nothing.
    props = {"account_key": "parent", "status_callback": "https://hooks.example.com/s"}
    violations = check_resource(
        no_sending_from_parent, tokens.DEFAULT_MESSAGING_SERVICE, "parent-default", props
    )
    assert violations == []


@pytest.mark.parametrize("token", [tokens.SUBACCOUNT, tokens.API_KEY])
def test_other_types_are_not_this_rules_business(token: str) -> None:
    assert check_resource(no_sending_from_parent, token, "x", {"account_key": "parent"}) == []


def test_unknown_sids_during_preview_do_not_matter() -> None:
    props = {
        "account_key": "acme",
        "account_sid": UNKNOWN_STRING_VALUE,
        "use_case": "notifications",
        "service_sid": UNKNOWN_STRING_VALUE,
    }
    assert check_resource(no_sending_from_parent, tokens.SENDER_POOL, "acme-pool", props) == []


def test_an_unknown_account_key_becomes_the_sdks_advisory_note() -> None:
    # The SDK catches UnknownValueError from a resource policy and reports "can't run policy
    # during preview" as advisory; the rule must not guess.
    props = {"account_key": UNKNOWN_STRING_VALUE, "use_case": "notifications"}
    with pytest.raises(UnknownValueError):
        check_resource(no_sending_from_parent, tokens.MESSAGING_SERVICE, "svc", props)
