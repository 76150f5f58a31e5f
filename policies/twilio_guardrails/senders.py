"""Sender pools: at most `max_senders` senders per service, a number or short code in one
service only.

A pool names its numbers by SID, and a number bought in the same pull request has no SID at
preview. Its PhoneNumber resource is still known: the engine records which resources each prop
depends on, so a number is identified by the PhoneNumber resource behind the pool's
`phone_number_sids` (or by its SID when it is a literal, known one).
"""

from __future__ import annotations

from dataclasses import dataclass

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from twilio_guardrails import tokens
from twilio_guardrails.config import schema, settings
from twilio_guardrails.estate import UNKNOWN, Estate, describe, is_known_text, items, value

_SCHEMA = schema(
    max_senders={
        "type": "integer",
        "minimum": 1,
        "default": 400,
        "description": "Most senders (numbers, short codes, alpha senders) in one Messaging "
        "Service; Twilio's default limit is 400 (error 21714).",
    }
)


@dataclass(frozen=True)
class _Sender:
    identity: tuple[str, str]  # what makes two senders the same one
    label: str  # how a message names it


def _phone_numbers(pool: PolicyResource) -> list[_Sender]:
    found: dict[tuple[str, str], _Sender] = {}
    resolved_sids: set[str] = set()
    for number in pool.property_dependencies.get(tokens.PHONE_NUMBER_SIDS, []):
        if number.resource_type != tokens.PHONE_NUMBER:
            continue
        # A number already bought has a known SID: the same identity as that SID listed
        # literally elsewhere. A number bought in this update is known by its resource.
        sid = value(number.props, "sid")
        if is_known_text(sid):
            resolved_sids.add(sid)
            identity = ("sid", sid)
        else:
            identity = ("number", number.urn)
        found[identity] = _Sender(identity, describe(number))
    listed = items(pool.props, tokens.PHONE_NUMBER_SIDS)
    for sid in [] if listed is UNKNOWN else listed:
        if is_known_text(sid) and sid not in resolved_sids:
            found[("sid", sid)] = _Sender(("sid", sid), f"phone number {sid}")
    return list(found.values())


def _short_codes(pool: PolicyResource) -> list[_Sender]:
    listed = items(pool.props, tokens.SHORT_CODE_SIDS)
    known = [] if listed is UNKNOWN else [sid for sid in listed if is_known_text(sid)]
    return [_Sender(("short-code", sid), f"short code {sid}") for sid in dict.fromkeys(known)]


def _sender_count(pool: PolicyResource) -> int | None:
    """Senders in the pool; None when a list is unknown. Unknown elements (SIDs of numbers
    bought in this update) still count: the list's length is known."""
    total = 0
    for prop in (tokens.PHONE_NUMBER_SIDS, tokens.SHORT_CODE_SIDS, tokens.ALPHA_SENDERS):
        listed = items(pool.props, prop)
        if listed is UNKNOWN:
            return None
        total += len(listed)
    return total


def _sender_pool_limits(args: StackValidationArgs, report_violation: ReportViolation):
    config = settings(_SCHEMA, args.get_config())
    limit = int(config["max_senders"])
    owner: dict[tuple[str, str], PolicyResource] = {}
    for pool in Estate(args.resources).of(tokens.SENDER_POOL):
        count = _sender_count(pool)
        if count is not None and count > limit:
            report_violation(
                f"{describe(pool)} has {count} senders; a Messaging Service holds at most "
                f"{limit}: remove {count - limit} of them, or split the use case's traffic "
                "across subaccounts.",
                pool.urn,
            )
        for sender in _phone_numbers(pool) + _short_codes(pool):
            first = owner.setdefault(sender.identity, pool)
            if first is not pool:
                report_violation(
                    f"{describe(pool)} attaches {sender.label}, which {describe(first)} attaches "
                    "too; a number or short code belongs to one Messaging Service only (Twilio "
                    "error 21712): remove it from one of the two pools.",
                    pool.urn,
                )


sender_pool_limits = StackValidationPolicy(
    name="sender-pool-limits",
    description="At most max_senders senders per Messaging Service; a number or short code "
    "in one service only.",
    validate=_sender_pool_limits,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_SCHEMA,
)
