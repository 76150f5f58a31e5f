"""Sender pools: at most `max_senders` senders per service, a number or short code in one
service only.

A pool names its numbers by SID, and a number bought in the same pull request has no SID at
preview. Its PhoneNumber resource is still known: the engine records which resources each prop
depends on, so a number is identified by the PhoneNumber resource behind the pool's
`phone_number_sids` (or by its SID when it is a literal, known one).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from twilio_guardrails import tokens
from twilio_guardrails.config import schema
from twilio_guardrails.estate import UNKNOWN, Estate, Resource, is_known_text
from twilio_guardrails.rules import Rule, Violation

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


def _phone_numbers(estate: Estate, pool: Resource) -> list[_Sender]:
    found: dict[tuple[str, str], _Sender] = {}
    resolved_sids: set[str] = set()
    for number in estate.depends_on(pool, tokens.PHONE_NUMBER_SIDS, tokens.PHONE_NUMBER):
        # A number already bought has a known SID: the same identity as that SID listed
        # literally elsewhere. A number bought in this update is known by its resource.
        sid = number.value(tokens.SID)
        if is_known_text(sid):
            resolved_sids.add(sid)
            identity = ("sid", sid)
        else:
            identity = ("number", number.urn)
        found[identity] = _Sender(identity, number.describe())
    listed = pool.items(tokens.PHONE_NUMBER_SIDS)
    for sid in [] if listed is UNKNOWN else listed:
        if is_known_text(sid) and sid not in resolved_sids:
            found[("sid", sid)] = _Sender(("sid", sid), f"phone number {sid}")
    return list(found.values())


def _short_codes(pool: Resource) -> list[_Sender]:
    listed = pool.items(tokens.SHORT_CODE_SIDS)
    known = [] if listed is UNKNOWN else [sid for sid in listed if is_known_text(sid)]
    return [_Sender(("short-code", sid), f"short code {sid}") for sid in dict.fromkeys(known)]


def _sender_count(pool: Resource) -> int | None:
    """Senders in the pool; None when a list is unknown. Unknown elements (SIDs of numbers
    bought in this update) still count: the list's length is known."""
    total = 0
    for prop in (tokens.PHONE_NUMBER_SIDS, tokens.SHORT_CODE_SIDS, tokens.ALPHA_SENDERS):
        listed = pool.items(prop)
        if listed is UNKNOWN:
            return None
        total += len(listed)
    return total


def check(estate: Estate, config: Mapping[str, Any]) -> Iterator[Violation]:
    limit = int(config["max_senders"])
    owner: dict[tuple[str, str], Resource] = {}
    for pool in estate.of(tokens.SENDER_POOL):
        count = _sender_count(pool)
        if count is not None and count > limit:
            yield Violation(
                f"{pool.describe()} has {count} senders; a Messaging Service holds at most "
                f"{limit}: remove {count - limit} of them, or split the use case's traffic "
                "across subaccounts.",
                pool.urn,
            )
        for sender in _phone_numbers(estate, pool) + _short_codes(pool):
            first = owner.setdefault(sender.identity, pool)
            if first is not pool:
                yield Violation(
                    f"{pool.describe()} attaches {sender.label}, which {first.describe()} "
                    "attaches too; a number or short code belongs to one Messaging Service only "
                    "(Twilio error 21712): remove it from one of the two pools.",
                    pool.urn,
                )


sender_pool_limits = Rule(
    name="sender-pool-limits",
    description="At most max_senders senders per Messaging Service; a number or short code "
    "in one service only.",
    check=check,
    config_schema=_SCHEMA,
)
