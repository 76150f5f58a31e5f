"""What cannot be undone is protected: closing a subaccount is permanent (Twilio has no
DELETE for accounts), and a released phone number may be gone for good.

`protect` is a resource option, known at preview; a number's environment is that of the
subaccount it is traced to (estate.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from twilio_guardrails import tokens
from twilio_guardrails.config import PRODUCTION, environments, schema
from twilio_guardrails.estate import Estate, where
from twilio_guardrails.rules import Rule, Violation

_SCHEMA = schema(
    protected_environments=environments(
        "Environments whose subaccounts and phone numbers must be protected.", [PRODUCTION]
    )
)

_WHY = {
    tokens.SUBACCOUNT: "closing a subaccount is permanent and releases its numbers",
    tokens.PHONE_NUMBER: "a released number may never be available again",
}


def check(estate: Estate, config: Mapping[str, Any]) -> Iterator[Violation]:
    protected = config["protected_environments"]
    for resource in estate.of(tokens.SUBACCOUNT, tokens.PHONE_NUMBER):
        environment = estate.environment_of(resource)
        if environment not in protected or resource.protect:
            continue
        place = (
            environment
            if resource.type == tokens.SUBACCOUNT
            else where(estate.account_of(resource), environment)
        )
        yield Violation(
            f"{resource.describe()} ({place}) is not protected, and "
            f"{_WHY[resource.type]}: register it with pulumi.ResourceOptions(protect=True).",
            resource.urn,
        )


protect_irreversible = Rule(
    name="protect-irreversible",
    description="Subaccounts and purchased phone numbers of protected environments (production) "
    "are protected.",
    check=check,
    config_schema=_SCHEMA,
)
