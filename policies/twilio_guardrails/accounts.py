"""The parent account is a shell: it owns the subaccounts and holds nothing that sends or
signs. Which account a resource lands in is traced through the stack's graph (estate.py),
never read from its label, so relabelling cannot move a resource out of this rule's reach."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from twilio_guardrails import tokens
from twilio_guardrails.estate import Estate, Resource
from twilio_guardrails.rules import Rule, Violation

# Everything that can send, or sign requests that send, on the account it lives in. Twilio's
# auto-generated default service of the parent exists whatever we do (it cannot be deleted)
# and sends nothing unless given senders, so it is not on this list: a SenderPool that gives
# it senders is.
ON_THE_PARENT = {
    tokens.MESSAGING_SERVICE: "is a Messaging Service",
    tokens.PHONE_NUMBER: "buys a phone number",
    tokens.SENDER_POOL: "attaches senders",
    tokens.API_KEY: "mints an API key",
}


def check(estate: Estate, _settings: Mapping[str, Any]) -> Iterator[Violation]:
    for resource in estate.of(*ON_THE_PARENT):
        account = estate.account_of(resource)
        if not account.is_parent:
            continue  # a subaccount, or (preview only) not decided yet
        yield Violation(_message(estate, resource, account.why), resource.urn)


def _message(estate: Estate, resource: Resource, why: str) -> str:
    label = resource.value(tokens.ACCOUNT_KEY)
    labelled = (
        f", although labelled account_key '{label}'"
        if isinstance(label, str) and label and label != tokens.PARENT_ACCOUNT_KEY
        else ""
    )
    what = ON_THE_PARENT[resource.type]
    if resource.type == tokens.SENDER_POOL:
        for service in estate.depends_on(
            resource, tokens.SERVICE_SID, tokens.DEFAULT_MESSAGING_SERVICE
        ):
            what = (
                f"gives senders to {service.describe()}, the parent's auto-generated default "
                "Messaging Service, which sends nothing only as long as it has no senders"
            )
    fix = (
        "mint it in the subaccount of the app's tenant"
        if resource.type == tokens.API_KEY
        else "declare it in a tenant's subaccount"
    )
    return (
        f"{resource.describe()} {what} on the parent account ({why}{labelled}); the parent "
        f"account never sends and holds no keys: {fix}, passing that Subaccount resource's sid "
        "as account_sid."
    )


no_sending_from_parent = Rule(
    name="no-sending-from-parent",
    description="Nothing on the parent account: no Messaging Service, phone number, sender or "
    "API key.",
    check=check,
)
