"""API keys: apps get standard or restricted keys inside their tenant's subaccount; the parent
holds none, and where the stack says so (production) only restricted keys."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from twilio_guardrails import tokens
from twilio_guardrails.config import PRODUCTION, environments, schema, settings
from twilio_guardrails.estate import UNKNOWN, Estate, describe, is_known_text, items, value, where

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


def _restricted_api_keys(args: StackValidationArgs, report_violation: ReportViolation):
    config = settings(_SCHEMA, args.get_config())
    allowed = config["allowed_kinds"]
    for key, account_key, environment in Estate(args.resources).in_accounts(tokens.API_KEY):
        place = where(account_key, environment)
        if account_key is UNKNOWN:
            continue
        if not is_known_text(account_key):
            report_violation(
                f"{describe(key)} has no account_key, so nothing shows it is outside the parent "
                "account: set account_key to the tenant key of the subaccount the app uses.",
                key.urn,
            )
            continue
        if account_key == tokens.PARENT_ACCOUNT_KEY:
            report_violation(
                f"{describe(key)} is on the parent account, which holds no keys: mint it in the "
                "subaccount of the app's tenant (account_key and account_sid of that tenant).",
                key.urn,
            )
            continue
        kind = value(key.props, tokens.KIND)
        if kind is UNKNOWN:
            continue
        if kind not in allowed:
            report_violation(
                f"{describe(key)} ({place}) is a {kind!r} key; apps get {' or '.join(allowed)} "
                "keys: change its kind.",
                key.urn,
            )
            continue
        if environment in config["require_restricted_in"] and kind != "restricted":
            report_violation(
                f"{describe(key)} ({place}) is a {kind!r} key, which can use every API of its "
                f"subaccount; keys in {environment} are restricted: set kind 'restricted' and "
                "list the permissions the app needs (e.g. /twilio/messaging/messages/create).",
                key.urn,
            )
            continue
        permissions = items(key.props, tokens.PERMISSIONS)
        if kind == "restricted" and permissions is not UNKNOWN and not permissions:
            report_violation(
                f"{describe(key)} ({place}) is restricted to nothing: list the permissions the "
                "app needs (e.g. /twilio/messaging/messages/create).",
                key.urn,
            )


restricted_api_keys = StackValidationPolicy(
    name="restricted-api-keys",
    description="Apps get restricted or standard keys in subaccounts; no keys on the parent.",
    validate=_restricted_api_keys,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_SCHEMA,
)
