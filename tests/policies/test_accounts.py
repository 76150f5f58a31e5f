"""no-sending-from-parent, and the account tracing every rule relies on: the account of a
resource is the Subaccount resource its account_sid was computed from, never its label."""

from __future__ import annotations

import pytest

from tests.policies.harness import (
    PARENT_SID,
    UNKNOWN_STRING_VALUE,
    api_key,
    check_stack,
    default_service,
    phone_number,
    resource,
    sender_pool,
    service,
    subaccount,
    tenant,
)
from twilio_guardrails import tokens
from twilio_guardrails.accounts import no_sending_from_parent
from twilio_guardrails.estate import from_policy_resources

ACME_SID = "AC" + "a" * 32
GLOBEX_SID = "AC" + "b" * 32


def test_a_compliant_estate_passes() -> None:
    assert check_stack(no_sending_from_parent, [*tenant("acme"), *tenant("globex")]) == []


@pytest.mark.parametrize(
    "build",
    [
        lambda: service("parent"),
        lambda: phone_number("parent"),
        lambda: sender_pool("parent"),
        lambda: api_key("parent"),
    ],
    ids=["service", "number", "pool", "key"],
)
def test_anything_that_sends_or_signs_on_the_parent_fails(build) -> None:
    thing = build()
    [violation] = check_stack(no_sending_from_parent, [*tenant("acme"), thing])
    assert violation.urn == thing.urn
    kind = tokens.kind_of(thing.resource_type)
    assert violation.message.startswith(f"{kind} '{thing.name}' ")
    assert f"on the parent account (its account_sid ('{PARENT_SID}') comes from no Subaccount" in (
        violation.message
    )
    assert "passing that Subaccount resource's sid as account_sid" in violation.message


def test_an_api_key_on_the_parent_is_this_mandatory_rules_business() -> None:
    key = api_key("parent")
    [violation] = check_stack(no_sending_from_parent, [key])
    assert "mints an API key on the parent account" in violation.message
    assert "mint it in the subaccount of the app's tenant" in violation.message


def test_a_relabelled_service_with_a_literal_parent_sid_fails() -> None:
    # Labelled as tenant acme, but account_sid is a literal: Twilio puts it on the parent.
    relabelled = service(
        "acme", "marketing", name="sneaky", account_sid=PARENT_SID, account_sid_from=[]
    )
    [violation] = check_stack(no_sending_from_parent, [*tenant("acme"), relabelled])
    assert violation.urn == relabelled.urn
    assert "although labelled account_key 'acme'" in violation.message


def test_a_literal_sid_of_a_subaccount_still_counts_as_the_parent() -> None:
    # Only the graph says where a resource lands during a pull request's preview; a literal
    # SID says nothing the pack can check, so it is treated as the parent.
    literal = service("acme", "marketing", account_sid=ACME_SID, account_sid_from=[])
    known_acme = subaccount("acme", sid=ACME_SID)
    [violation] = check_stack(no_sending_from_parent, [known_acme, literal])
    assert f"its account_sid ('{ACME_SID}') comes from no Subaccount" in violation.message


def test_an_unknown_sid_from_no_subaccount_counts_as_the_parent() -> None:
    # Unknown at preview, computed from some other resource (not a Subaccount).
    other = resource("pulumi-python:dynamic:Resource", "elsewhere", {"value": UNKNOWN_STRING_VALUE})
    hidden = service(
        "acme", "marketing", account_sid=UNKNOWN_STRING_VALUE, account_sid_from=[other]
    )
    [violation] = check_stack(no_sending_from_parent, [*tenant("acme"), other, hidden])
    assert "its account_sid (not known until it is created) comes from no Subaccount" in (
        violation.message
    )


def test_an_unknown_sid_from_the_subaccount_is_inside_it() -> None:
    # The preview of the pull request that adds a tenant: every SID is unknown.
    assert check_stack(no_sending_from_parent, tenant("acme")) == []


def test_a_sid_computed_from_a_subaccount_but_not_its_own_is_the_parent() -> None:
    # `acme.sid.apply(lambda _: PARENT_SID)`: at `up` the value is known and is not acme's.
    acme = subaccount("acme", sid=ACME_SID)
    disguised = service("acme", account_sid=PARENT_SID, account_sid_from=[acme])
    [violation] = check_stack(no_sending_from_parent, [acme, disguised])
    assert "is computed from Subaccount 'acme' but is not that subaccount's SID" in (
        violation.message
    )


def test_a_sid_chosen_among_subaccounts_is_decided_once_known() -> None:
    acme = subaccount("acme", sid=ACME_SID)
    globex = subaccount("globex", sid=GLOBEX_SID)
    chosen = service("acme", account_sid=GLOBEX_SID, account_sid_from=[acme, globex])
    estate = from_policy_resources([acme, globex, chosen])
    assert estate.account_of(estate.get(chosen.urn)).subaccount.name == "globex"
    assert check_stack(no_sending_from_parent, [acme, globex, chosen]) == []
    # While unknown (preview), nothing is decided and nothing is reported.
    unknown = service("acme", account_sid=UNKNOWN_STRING_VALUE, account_sid_from=[acme, globex])
    assert check_stack(no_sending_from_parent, [acme, globex, unknown]) == []
    preview = from_policy_resources([acme, globex, unknown])
    assert not preview.account_of(preview.get(unknown.urn)).decided


def test_the_parents_auto_generated_default_service_is_allowed() -> None:
    # Twilio creates it in every account; a status callback on it sends nothing.
    assert check_stack(no_sending_from_parent, [default_service("parent")]) == []


def test_senders_given_to_the_parents_default_service_say_so() -> None:
    parent_default = default_service("parent")
    pool = sender_pool("parent")
    pool.property_dependencies["service_sid"] = [parent_default]
    [violation] = check_stack(no_sending_from_parent, [parent_default, pool])
    assert violation.urn == pool.urn
    assert (
        "gives senders to DefaultMessagingService 'parent-default-service', the parent's "
        "auto-generated default Messaging Service, which sends nothing only as long as it has "
        "no senders" in violation.message
    )


@pytest.mark.parametrize("token", [tokens.SUBACCOUNT, tokens.DEFAULT_MESSAGING_SERVICE])
def test_subaccounts_and_default_services_are_not_this_rules_business(token: str) -> None:
    thing = resource(token, "x", {"account_key": "parent", "account_sid": PARENT_SID})
    assert check_stack(no_sending_from_parent, [thing]) == []


def test_a_tenant_whose_subaccount_is_not_in_this_stack_is_the_parent() -> None:
    # Labelled 'globex', but no Subaccount of this stack produced its account_sid: Twilio
    # would put it wherever that SID points, which this stack does not own.
    stray = service("globex", "marketing")
    [violation] = check_stack(no_sending_from_parent, [*tenant("acme"), stray])
    assert violation.urn == stray.urn
    assert "although labelled account_key 'globex'" in violation.message
