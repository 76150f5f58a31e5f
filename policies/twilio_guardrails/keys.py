"""API keys: apps get standard or restricted keys inside their tenant's subaccount, and where
the stack says so (production) only restricted keys. A key on the parent account is
no-sending-from-parent's (mandatory everywhere), not this rule's."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from twilio_guardrails import tokens
from twilio_guardrails.config import PRODUCTION, environments, schema
from twilio_guardrails.estate import UNKNOWN, Estate, where
from twilio_guardrails.rules import Rule, Violation

_KINDS = ("standard", "restricted")

_SCHEMA = schema(
    allowed_kinds={
        "type": "array",
        "items": {"type": "string", "enum": list(_KINDS)},
        "uniqueItems": True,
        "minItems": 1,
        "default": list(_KINDS),
        "description": "Key kinds apps may get. Main keys (which can manage the account and its "
        "subaccounts) are never among them.",
    },
    require_restricted_in=environments(
        "Environments whose keys must be restricted to the permissions the app needs.",
        [PRODUCTION],
    ),
)


def check(estate: Estate, config: Mapping[str, Any]) -> Iterator[Violation]:
    allowed = config["allowed_kinds"]
    for key, account, environment in estate.in_accounts(tokens.API_KEY):
        if account.subaccount is None:
            continue  # the parent (no-sending-from-parent) or not decided yet
        place = where(account, environment)
        kind = key.value(tokens.KIND)
        if kind is UNKNOWN:
            continue
        if kind not in allowed:
            yield Violation(
                f"{key.describe()} ({place}) is a {kind!r} key; apps get {' or '.join(allowed)} "
                "keys: change its kind.",
                key.urn,
            )
            continue
        if environment in config["require_restricted_in"] and kind != "restricted":
            yield Violation(
                f"{key.describe()} ({place}) is a {kind!r} key, which can use every API of its "
                f"subaccount; keys in {environment} are restricted: set kind 'restricted' and "
                "list the permissions the app needs (e.g. /twilio/messaging/messages/create).",
                key.urn,
            )
            continue
        permissions = key.items(tokens.PERMISSIONS)
        if kind == "restricted" and permissions is not UNKNOWN and not permissions:
            yield Violation(
                f"{key.describe()} ({place}) is restricted to nothing: list the permissions the "
                "app needs (e.g. /twilio/messaging/messages/create).",
                key.urn,
            )


restricted_api_keys = Rule(
    name="restricted-api-keys",
    description="Apps get restricted or standard keys in subaccounts (restricted where the "
    "stack says so).",
    check=check,
    config_schema=_SCHEMA,
)
