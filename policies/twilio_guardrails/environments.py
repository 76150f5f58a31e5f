"""Isolated environments: each environment the stack owns has its own subaccount, each tenant
one subaccount, nothing lands in an account the stack does not own, and (ISV) production
subaccounts are one per customer.

Which environments a stack owns is stack policy config (`environments`), not read from the
program's stack file: the pack also guards estates built some other way.
"""

from __future__ import annotations

from collections import defaultdict

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from twilio_guardrails import tokens
from twilio_guardrails.config import PRODUCTION, environments, listing, schema, settings
from twilio_guardrails.estate import UNKNOWN, Estate, describe, is_known_text, value

CUSTOMER = "customer"

_SCHEMA = schema(
    environments=environments(
        "The environments this stack owns; each needs at least one subaccount, and no "
        "subaccount may belong to another. Empty: only the per-subaccount checks run.",
        [],
    ),
    style={
        "type": "string",
        "enum": ["direct", "isv"],
        "default": "direct",
        "description": "isv: production subaccounts are one per customer (a subaccount's "
        "`role`, when the program registers one, must be 'customer').",
    },
)


def _isolated_environments(args: StackValidationArgs, report_violation: ReportViolation):
    config = settings(_SCHEMA, args.get_config())
    owned: list[str] = config["environments"]
    estate = Estate(args.resources)
    subaccounts = estate.of(tokens.SUBACCOUNT)
    tenants: dict[str, list[PolicyResource]] = defaultdict(list)
    seen_environments: set[str] = set()

    for subaccount in subaccounts:
        account_key = value(subaccount.props, tokens.ACCOUNT_KEY)
        environment = value(subaccount.props, tokens.ENVIRONMENT)
        if is_known_text(account_key):
            tenants[account_key].append(subaccount)
        if account_key == tokens.PARENT_ACCOUNT_KEY:
            report_violation(
                f"{describe(subaccount)} uses the key 'parent', which names the parent account: "
                "give the subaccount its own tenant key.",
                subaccount.urn,
            )
        if environment is UNKNOWN:
            continue
        if not is_known_text(environment):
            report_violation(
                f"{describe(subaccount)} has no environment: set the environment it belongs to "
                f"({listing(owned) if owned else 'development, staging or production'}).",
                subaccount.urn,
            )
            continue
        seen_environments.add(environment)
        if owned and environment not in owned:
            report_violation(
                f"{describe(subaccount)} is in {environment}, which this stack does not own "
                f"(it owns {listing(owned)}): declare it in the stack of {environment}.",
                subaccount.urn,
            )
        if config["style"] == "isv" and environment == PRODUCTION:
            _one_per_customer(subaccount, report_violation)

    for environment in owned:
        if environment not in seen_environments:
            report_violation(
                f"This stack owns {environment} but has no subaccount in it: add a Subaccount "
                f"with environment '{environment}'; environments never share a subaccount."
            )

    for account_key, same in sorted(tenants.items()):
        for twin in same[1:]:
            report_violation(
                f"{describe(twin)} is a second subaccount for tenant '{account_key}' (with "
                f"{describe(same[0])}): one subaccount per tenant; give it its own tenant key.",
                twin.urn,
            )

    for resource in estate.of(*tokens.IN_AN_ACCOUNT):
        account_key = value(resource.props, tokens.ACCOUNT_KEY)
        if not is_known_text(account_key) or account_key == tokens.PARENT_ACCOUNT_KEY:
            continue  # the parent's resources are the subject of other rules
        if account_key not in tenants:
            report_violation(
                f"{describe(resource)} is in tenant '{account_key}', which has no Subaccount in "
                "this stack: declare that tenant's subaccount here, or move the resource to the "
                "stack that owns it.",
                resource.urn,
            )


def _one_per_customer(subaccount: PolicyResource, report_violation: ReportViolation) -> None:
    # Without a `role` prop the subaccount follows the stack-file model's default for an ISV's
    # production tenant: a customer.
    role = value(subaccount.props, tokens.ROLE)
    if role is UNKNOWN or role is None or role == CUSTOMER:
        return
    report_violation(
        f"{describe(subaccount)} is a {role!r} subaccount in production; an ISV's production "
        "subaccounts are one per customer, so a compliance problem stays with one customer: "
        "give each customer its own subaccount (role 'customer').",
        subaccount.urn,
    )


isolated_environments = StackValidationPolicy(
    name="isolated-environments",
    description="Each environment the stack owns has its own subaccounts; ISV production has "
    "one subaccount per customer.",
    validate=_isolated_environments,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_SCHEMA,
)
