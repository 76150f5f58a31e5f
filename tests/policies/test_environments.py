"""isolated-environments: the stack-level rule over all subaccounts."""

from __future__ import annotations

from tests.policies.harness import (
    UNKNOWN_STRING_VALUE,
    check_stack,
    messages,
    service,
    subaccount,
    tenant,
)
from twilio_guardrails.environments import isolated_environments

DEV_STACK = {"environments": ["development", "staging"], "style": "isv"}
PROD_STACK = {"environments": ["production"], "style": "isv"}


def test_each_owned_environment_with_its_subaccount_passes() -> None:
    estate = [*tenant("shared-dev", "development"), *tenant("shared-staging", "staging")]
    assert check_stack(isolated_environments, estate, DEV_STACK) == []


def test_an_owned_environment_without_subaccount_fails() -> None:
    violations = check_stack(isolated_environments, tenant("shared-dev", "development"), DEV_STACK)
    assert [(v.message, v.urn) for v in violations] == [
        (
            "This stack owns staging but has no subaccount in it: add a Subaccount with "
            "environment 'staging'; environments never share a subaccount.",
            None,
        )
    ]


def test_a_subaccount_of_an_environment_the_stack_does_not_own_fails() -> None:
    intruder = subaccount("acme", "production")
    estate = [*tenant("shared-dev", "development"), *tenant("shared-staging", "staging"), intruder]
    [violation] = check_stack(isolated_environments, estate, DEV_STACK)
    assert violation.urn == intruder.urn
    assert violation.message == (
        "Subaccount 'acme' is in production, which this stack does not own (it owns "
        "development, staging): declare it in the stack of production."
    )


def test_a_subaccount_without_environment_fails() -> None:
    [violation] = check_stack(isolated_environments, [subaccount("acme", "")], {})
    assert violation.message.startswith("Subaccount 'acme' has no environment")


def test_two_subaccounts_for_one_tenant_fail() -> None:
    twin = subaccount("acme", "production", name="acme-again")
    [violation] = check_stack(isolated_environments, [subaccount("acme"), twin], PROD_STACK)
    assert violation.urn == twin.urn
    assert "is a second subaccount for tenant 'acme'" in violation.message


def test_a_subaccount_named_parent_fails() -> None:
    [violation] = check_stack(isolated_environments, [subaccount("parent")], PROD_STACK)
    assert "uses the key 'parent', which names the parent account" in violation.message


def test_parent_resources_are_left_to_the_parent_rules() -> None:
    estate = [*tenant("acme"), service("parent")]
    assert check_stack(isolated_environments, estate, PROD_STACK) == []


def test_isv_production_subaccounts_are_customers() -> None:
    customers = [subaccount("acme", role="customer"), subaccount("globex")]
    assert check_stack(isolated_environments, customers, PROD_STACK) == []
    shared = subaccount("everyone", role="shared")
    [violation] = check_stack(isolated_environments, [*customers, shared], PROD_STACK)
    assert violation.urn == shared.urn
    assert violation.message == (
        "Subaccount 'everyone' is a 'shared' subaccount in production; an ISV's production "
        "subaccounts are one per customer, so a compliance problem stays with one customer: "
        "give each customer its own subaccount (role 'customer')."
    )


def test_direct_style_has_no_customer_rule() -> None:
    config = {"environments": ["production"], "style": "direct"}
    estate = [subaccount("payments", role="business_unit")]
    assert check_stack(isolated_environments, estate, config) == []


def test_without_owned_environments_only_per_subaccount_checks_run() -> None:
    estate = [subaccount("a", "development"), subaccount("b", "production")]
    assert check_stack(isolated_environments, estate) == []


def test_unknown_values_are_left_for_up() -> None:
    estate = [
        subaccount("shared-dev", "development"),
        subaccount("shared-staging", UNKNOWN_STRING_VALUE),
        service(UNKNOWN_STRING_VALUE),
    ]
    assert messages(check_stack(isolated_environments, estate, DEV_STACK)) == [
        "This stack owns staging but has no subaccount in it: add a Subaccount with environment "
        "'staging'; environments never share a subaccount."
    ]
