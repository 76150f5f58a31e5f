"""Isolated environments: each environment the stack owns has its own subaccount, each tenant
one subaccount, and (ISV) production
subaccounts are one per customer.

Which environments a stack owns is stack policy config (`environments`), not read from the
program's stack file: the pack also guards estates built some other way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from twilio_guardrails import tokens
from twilio_guardrails.config import PRODUCTION, environments, listing, schema
from twilio_guardrails.estate import UNKNOWN, Estate, Resource, is_known_text
from twilio_guardrails.rules import Rule, Violation

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


def check(estate: Estate, config: Mapping[str, Any]) -> Iterator[Violation]:
    owned: list[str] = config["environments"]
    tenants: dict[str, list[Resource]] = defaultdict(list)
    seen_environments: set[str] = set()

    for subaccount in estate.of(tokens.SUBACCOUNT):
        account_key = subaccount.value(tokens.ACCOUNT_KEY)
        environment = subaccount.value(tokens.ENVIRONMENT)
        if is_known_text(account_key):
            tenants[account_key].append(subaccount)
        if account_key == tokens.PARENT_ACCOUNT_KEY:
            yield Violation(
                f"{subaccount.describe()} uses the key 'parent', which names the parent account: "
                "give the subaccount its own tenant key.",
                subaccount.urn,
            )
        if environment is UNKNOWN:
            continue
        if not is_known_text(environment):
            yield Violation(
                f"{subaccount.describe()} has no environment: set the environment it belongs to "
                f"({listing(owned) if owned else 'development, staging or production'}).",
                subaccount.urn,
            )
            continue
        seen_environments.add(environment)
        if owned and environment not in owned:
            yield Violation(
                f"{subaccount.describe()} is in {environment}, which this stack does not own "
                f"(it owns {listing(owned)}): declare it in the stack of {environment}.",
                subaccount.urn,
            )
        if config["style"] == "isv" and environment == PRODUCTION:
            yield from _one_per_customer(subaccount)

    for environment in owned:
        if environment not in seen_environments:
            yield Violation(
                f"This stack owns {environment} but has no subaccount in it: add a Subaccount "
                f"with environment '{environment}'; environments never share a subaccount."
            )

    for account_key, same in sorted(tenants.items()):
        for twin in same[1:]:
            yield Violation(
                f"{twin.describe()} is a second subaccount for tenant '{account_key}' (with "
                f"{same[0].describe()}): one subaccount per tenant; give it its own tenant key.",
                twin.urn,
            )
    # Where each resource lands is traced through the graph (estate.py): a resource not traced
    # to one of this stack's subaccounts is on the parent, which no-sending-from-parent refuses.


def _one_per_customer(subaccount: Resource) -> Iterator[Violation]:
    # Without a `role` prop the subaccount follows the stack-file model's default for an ISV's
    # production tenant: a customer.
    role = subaccount.value(tokens.ROLE)
    if role is UNKNOWN or role is None or role == CUSTOMER:
        return
    yield Violation(
        f"{subaccount.describe()} is a {role!r} subaccount in production; an ISV's production "
        "subaccounts are one per customer, so a compliance problem stays with one customer: "
        "give each customer its own subaccount (role 'customer').",
        subaccount.urn,
    )


isolated_environments = Rule(
    name="isolated-environments",
    description="Each environment the stack owns has its own subaccounts; ISV production has "
    "one subaccount per customer.",
    check=check,
    config_schema=_SCHEMA,
)
