"""What cannot be undone is protected: closing a subaccount is permanent (Twilio has no
DELETE for accounts), and a released phone number may be gone for good.

`protect` is a resource option, known at preview; a number's environment is its tenant's,
read from the tenant's Subaccount in the same stack.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from twilio_guardrails import tokens
from twilio_guardrails.config import PRODUCTION, environments, schema, settings
from twilio_guardrails.estate import Estate, describe, value, where

_SCHEMA = schema(
    protected_environments=environments(
        "Environments whose subaccounts and phone numbers must be protected.", [PRODUCTION]
    )
)

_WHY = {
    tokens.SUBACCOUNT: "closing a subaccount is permanent and releases its numbers",
    tokens.PHONE_NUMBER: "a released number may never be available again",
}


def _protect_irreversible(args: StackValidationArgs, report_violation: ReportViolation):
    protected = settings(_SCHEMA, args.get_config())["protected_environments"]
    estate = Estate(args.resources)
    for resource in estate.of(tokens.SUBACCOUNT, tokens.PHONE_NUMBER):
        account_key = value(resource.props, tokens.ACCOUNT_KEY)
        if resource.resource_type == tokens.SUBACCOUNT:
            environment = value(resource.props, tokens.ENVIRONMENT)
        else:
            environment = estate.environment_of(account_key)
        if environment not in protected or resource.opts.protect:
            continue
        report_violation(
            f"{describe(resource)} ({where(account_key, environment)}) is not protected, and "
            f"{_WHY[resource.resource_type]}: register it with "
            "pulumi.ResourceOptions(protect=True).",
            resource.urn,
        )


protect_irreversible = StackValidationPolicy(
    name="protect-irreversible",
    description="Subaccounts and purchased phone numbers of protected environments (production) "
    "are protected.",
    validate=_protect_irreversible,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_SCHEMA,
)
