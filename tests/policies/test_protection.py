"""protect-irreversible: subaccounts and numbers of protected environments are protected."""

from __future__ import annotations

from tests.policies.harness import (
    UNKNOWN_STRING_VALUE,
    check_stack,
    phone_number,
    subaccount,
    tenant,
)
from twilio_guardrails.protection import protect_irreversible


def test_a_protected_production_tenant_passes() -> None:
    assert check_stack(protect_irreversible, tenant("acme", "production")) == []


def test_development_needs_no_protection_by_default() -> None:
    assert check_stack(protect_irreversible, tenant("lab", "development")) == []


def test_an_unprotected_production_subaccount_fails() -> None:
    account = subaccount("acme", "production", protect=False)
    [violation] = check_stack(protect_irreversible, [account])
    assert violation.urn == account.urn
    assert violation.message == (
        "Subaccount 'acme' (production) is not protected, and closing a "
        "subaccount is permanent and releases its numbers: register it with "
        "pulumi.ResourceOptions(protect=True)."
    )


def test_an_unprotected_number_of_a_production_tenant_fails() -> None:
    # The number has no environment of its own: its tenant's Subaccount says production.
    number = phone_number("acme", protect=False)
    [violation] = check_stack(protect_irreversible, [subaccount("acme"), number])
    assert violation.urn == number.urn
    assert violation.message == (
        "PhoneNumber 'acme-num-notifications-1' (subaccount 'acme', production) is not protected, "
        "and a released number may never be available again: register it with "
        "pulumi.ResourceOptions(protect=True)."
    )


def test_protected_environments_are_configurable() -> None:
    estate = tenant("stage", "staging")
    config = {"protected_environments": ["staging", "production"]}
    assert len(check_stack(protect_irreversible, estate, config)) == 3  # account + 2 numbers
    assert check_stack(protect_irreversible, tenant("acme"), {"protected_environments": []}) == []


def test_unknown_environment_is_left_for_up() -> None:
    estate = [
        subaccount("acme", UNKNOWN_STRING_VALUE, protect=False),
        phone_number("acme", protect=False),
    ]
    assert check_stack(protect_irreversible, estate) == []
