"""One rulebook: what the audit read, fed through the policy pack's own rule functions.

Every rule of the pack is a plain function over one documented estate shape
(`twilio_guardrails.estate`: resources with a type token, URN, name, plain props and property
dependencies; each resource's account traced through `account_sid`'s dependencies to a
Subaccount). `pulumi preview --policy-pack` converts a stack's resources into that shape; this
module converts an account read from Twilio into it, as the landing zone's providers would have
registered it, then runs the same functions (`twilio_guardrails.rules.evaluate`):

- a subaccount: `Subaccount` with `sid`, `environment` (from its name) and `account_key` (its
  SID: a label for messages);
- every object inside a subaccount carries `account_sid`, computed from that `Subaccount`
  (its dependency), so the pack traces it there; objects on the parent carry the parent's SID,
  computed from no Subaccount, so the pack traces them to the parent;
- Twilio's auto-generated default service: `DefaultMessagingService` with `status_callback`;
- any other service: `MessagingService` with `use_case` (absent when undeclared) and webhooks;
- a service's senders: `SenderPool` with `service_sid` (depending on the service),
  `phone_number_sids` (depending on those numbers), `short_code_sids`, `alpha_senders`;
- a number: `PhoneNumber` with `sms_url`, `sms_fallback_url`;
- an API key: `ApiKey` with `kind` and `permissions`.

`protect-irreversible` is left out: it judges Pulumi resource options, which objects read from
Twilio do not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from estate.model import Account, Estate
from twilio_guardrails import RULES, Rule, tokens
from twilio_guardrails import estate as shape
from twilio_guardrails.rules import evaluate

NOT_APPLICABLE: Final = frozenset({"protect-irreversible"})


@dataclass(frozen=True)
class Subject:
    """The Twilio object a rule resource stands for, to name it in a finding."""

    kind: str  # Account, MessagingService, DefaultMessagingService, PhoneNumber, ApiKey
    name: str
    sid: str
    account_sid: str


@dataclass(frozen=True)
class Violation:
    rule: str
    level: str
    message: str
    subject: Subject | None  # None: the estate as a whole (a stack-level violation)
    via_sender_pool: bool = False


class _Builder:
    """The pack's resources for an estate, and the Twilio object behind each URN."""

    def __init__(self, parent_sid: str) -> None:
        self.parent_sid = parent_sid
        self.resources: list[shape.Resource] = []
        self.subjects: dict[str, Subject] = {}
        self.pools: set[str] = set()

    def urn(self, token: str, sid: str) -> str:
        return f"urn:pulumi:audit::{self.parent_sid}::{token}::{sid}"

    def add(
        self,
        token: str,
        name: str,
        subject: Subject,
        props: Mapping[str, Any],
        dependencies: Mapping[str, tuple[str, ...]],
        urn_key: str | None = None,
    ) -> str:
        urn = self.urn(token, urn_key or subject.sid)
        self.resources.append(
            shape.Resource(
                type=token,
                urn=urn,
                name=name,
                # An absent prop is absent, never None (the engine drops null props).
                props={key: value for key, value in props.items() if value is not None},
                dependencies=dict(dependencies),
            )
        )
        self.subjects[urn] = subject
        return urn

    def account(self, account: Account) -> None:
        t = tokens
        placed: dict[str, Any] = {"account_sid": account.sid}
        deps: dict[str, tuple[str, ...]] = {}
        if account.is_parent:
            placed["account_key"] = t.PARENT_ACCOUNT_KEY
        else:
            subaccount = self.add(
                t.SUBACCOUNT,
                account.friendly_name,
                Subject("Account", account.friendly_name, account.sid, account.sid),
                {
                    "sid": account.sid,
                    "environment": account.environment,
                    "account_key": account.sid,
                },
                {},
            )
            placed["account_key"] = account.sid
            deps = {"account_sid": (subaccount,)}
        numbers: dict[str, str] = {}
        for number in account.numbers:
            numbers[number.sid] = self.add(
                t.PHONE_NUMBER,
                number.phone_number,
                Subject("PhoneNumber", number.phone_number, number.sid, account.sid),
                {
                    **placed,
                    "sid": number.sid,
                    "sms_url": number.sms_url,
                    "sms_fallback_url": number.sms_fallback_url,
                },
                deps,
            )
        for service in account.services:
            kind = "DefaultMessagingService" if service.is_default else "MessagingService"
            subject = Subject(kind, service.friendly_name, service.sid, account.sid)
            props: dict[str, Any] = {
                **placed,
                "sid": service.sid,
                "status_callback": service.status_callback,
            }
            if not service.is_default:
                props |= {
                    "use_case": None if service.usecase == "undeclared" else service.usecase,
                    "inbound_request_url": service.settings.get("inbound_request_url"),
                    "fallback_url": service.settings.get("fallback_url"),
                }
            token = t.DEFAULT_MESSAGING_SERVICE if service.is_default else t.MESSAGING_SERVICE
            service_urn = self.add(token, service.friendly_name, subject, props, deps)
            if not service.senders:
                continue
            pooled = [s.sid for s in service.senders if s.kind == "phone_number"]
            pool = self.add(
                t.SENDER_POOL,
                f"{service.friendly_name} senders",
                subject,
                {
                    **placed,
                    "service_sid": service.sid,
                    "phone_number_sids": pooled,
                    "short_code_sids": [s.sid for s in service.senders if s.kind == "short_code"],
                    "alpha_senders": [
                        s.address for s in service.senders if s.kind == "alpha_sender"
                    ],
                },
                {
                    **deps,
                    "service_sid": (service_urn,),
                    "phone_number_sids": tuple(numbers[sid] for sid in pooled if sid in numbers),
                },
                urn_key=f"{service.sid}-senders",
            )
            self.pools.add(pool)
        for api_key in account.keys:
            self.add(
                t.API_KEY,
                api_key.friendly_name or api_key.sid,
                Subject("ApiKey", api_key.friendly_name or api_key.sid, api_key.sid, account.sid),
                {**placed, "kind": api_key.kind, "permissions": list(api_key.permissions)},
                deps,
            )


def pack_estate(estate: Estate) -> tuple[shape.Estate, dict[str, Subject], set[str]]:
    """The pack's `Estate` of everything readable, the object behind each URN, the URNs of
    sender pools (closed and unreadable accounts contribute nothing)."""
    builder = _Builder(estate.parent.sid)
    for account in estate.accounts:
        if account.unreadable is None:
            builder.account(account)
    return shape.Estate(builder.resources), builder.subjects, builder.pools


def pack_rules() -> list[Rule]:
    return [rule for rule in RULES if rule.name not in NOT_APPLICABLE]


def judge(estate: Estate, pack_config: Mapping[str, Mapping[str, Any]]) -> list[Violation]:
    """Every applicable pack rule over the estate, configured like the pack (a config file's
    `{rule: {"enforcementLevel": ..., settings...}}`), with the pack's own `evaluate`."""
    resources, subjects, pools = pack_estate(estate)
    return [
        Violation(
            finding.rule,
            finding.level,
            finding.message,
            subjects.get(finding.urn) if finding.urn else None,
            via_sender_pool=finding.urn in pools,
        )
        for finding in evaluate(pack_rules(), resources, pack_config)
    ]
