"""One rulebook: what the audit read, fed through the policy pack's own rule code.

The pack judges the resources a Pulumi program registers: a type token, a URN, plain props and
the resources each prop depends on. This module turns an account read from Twilio into exactly
that shape (`RuleResource`), as the landing zone's providers would have registered it:

- a subaccount: `Subaccount`, with `account_key` (its SID) and `environment` (from its name);
- Twilio's auto-generated default service: `DefaultMessagingService`, with `status_callback`;
- any other service: `MessagingService`, with `use_case` (none when undeclared) and webhooks;
- a service's senders: `SenderPool`, with `phone_number_sids` (depending on those numbers'
  `PhoneNumber` resources), `short_code_sids` and `alpha_senders`;
- a number: `PhoneNumber`, with `sms_url` and `sms_fallback_url`;
- an API key: `ApiKey`, with `kind` and `permissions`.

`account_key` is `parent` for the parent account, as the pack expects. Then every rule of the
pack runs on it with the pack's own `validate` code, the engine's way (null props dropped,
props behind pulumi_policy's unknown-checking proxy). `protect-irreversible` is left out: it
judges Pulumi resource options, which objects read from Twilio do not have.

Scale: the pack's stack rules look up each resource's environment among all subaccounts, so
they run account by account (every rule but `isolated-environments` only relates resources of
one account; a test holds the verdicts equal to one run over the whole estate), and
`isolated-environments` runs once over all subaccounts.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from estate.model import Account, Estate

POLICIES_DIR = Path(__file__).resolve().parents[1] / "policies"
PARENT_ACCOUNT_KEY = "parent"
NOT_APPLICABLE = frozenset({"protect-irreversible"})
STACK_WIDE = frozenset({"isolated-environments"})

_DYNAMIC = "pulumi-python:dynamic/twilio"
SUBACCOUNT = f"{_DYNAMIC}:Subaccount"
API_KEY = f"{_DYNAMIC}:ApiKey"
MESSAGING_SERVICE = f"{_DYNAMIC}:MessagingService"
DEFAULT_MESSAGING_SERVICE = f"{_DYNAMIC}:DefaultMessagingService"
PHONE_NUMBER = f"{_DYNAMIC}:PhoneNumber"
SENDER_POOL = f"{_DYNAMIC}:SenderPool"


def guardrails() -> ModuleType:
    """The pack's rule package. The pack is a directory run by `pulumi policy` with itself on
    sys.path (it imports nothing of ours); the audit puts it there the same way."""
    if str(POLICIES_DIR) not in sys.path:
        sys.path.append(str(POLICIES_DIR))
    return importlib.import_module("twilio_guardrails")


@dataclass(frozen=True)
class Subject:
    """The Twilio object a rule resource stands for, to name it in a finding."""

    kind: str  # Account, MessagingService, DefaultMessagingService, PhoneNumber, ApiKey
    name: str
    sid: str
    account_sid: str


@dataclass(frozen=True)
class RuleResource:
    """The pack's data shape: type token, URN, name, props, property dependencies."""

    type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    subject: Subject
    property_dependencies: Mapping[str, tuple[RuleResource, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    subject: Subject | None  # None: the estate as a whole (a stack-level violation)
    via_sender_pool: bool = False


def _urn(parent_sid: str, token: str, sid: str) -> str:
    return f"urn:pulumi:audit::{parent_sid}::{token}::{sid}"


def account_key(account: Account) -> str:
    return PARENT_ACCOUNT_KEY if account.is_parent else account.sid


def resources_of(account: Account, parent_sid: str) -> list[RuleResource]:
    """One readable account as the resources the landing zone would register for it."""
    key = account_key(account)
    found: list[RuleResource] = []

    def add(
        token: str, name: str, sid: str, kind: str, props: dict[str, Any], **deps: Any
    ) -> RuleResource:
        resource = RuleResource(
            token,
            _urn(parent_sid, token, sid),
            name,
            {"account_key": key, **props},
            Subject(kind, name, sid, account.sid),
            {name: tuple(value) for name, value in deps.items()},
        )
        found.append(resource)
        return resource

    if not account.is_parent:
        add(
            SUBACCOUNT,
            account.friendly_name,
            account.sid,
            "Account",
            {"environment": account.environment, "friendly_name": account.friendly_name},
        )
    numbers = {
        number.sid: add(
            PHONE_NUMBER,
            number.phone_number,
            number.sid,
            "PhoneNumber",
            {
                "sid": number.sid,
                "sms_url": number.sms_url,
                "sms_fallback_url": number.sms_fallback_url,
            },
        )
        for number in account.numbers
    }
    for service in account.services:
        settings = service.settings
        if service.is_default:
            add(
                DEFAULT_MESSAGING_SERVICE,
                service.friendly_name,
                service.sid,
                "DefaultMessagingService",
                {"sid": service.sid, "status_callback": service.status_callback},
            )
        else:
            use_case = service.usecase if service.usecase != "undeclared" else None
            add(
                MESSAGING_SERVICE,
                service.friendly_name,
                service.sid,
                "MessagingService",
                {
                    "sid": service.sid,
                    "use_case": use_case,
                    "status_callback": service.status_callback,
                    "inbound_request_url": settings.get("inbound_request_url"),
                    "fallback_url": settings.get("fallback_url"),
                },
            )
        if not service.senders:
            continue
        pooled = [s.sid for s in service.senders if s.kind == "phone_number"]
        add(
            SENDER_POOL,
            f"{service.friendly_name} senders",
            service.sid,
            "MessagingService",
            {
                "messaging_service_sid": service.sid,
                "phone_number_sids": pooled,
                "short_code_sids": [s.sid for s in service.senders if s.kind == "short_code"],
                "alpha_senders": [s.address for s in service.senders if s.kind == "alpha_sender"],
            },
            phone_number_sids=[numbers[sid] for sid in pooled if sid in numbers],
        )
    for api_key in account.keys:
        add(
            API_KEY,
            api_key.friendly_name or api_key.sid,
            api_key.sid,
            "ApiKey",
            {"kind": api_key.kind, "permissions": list(api_key.permissions)},
        )
    return found


def estate_resources(estate: Estate) -> Iterator[tuple[Account, list[RuleResource]]]:
    """Each readable account with its resources (closed and unreadable ones have none)."""
    for account in estate.accounts:
        if account.unreadable is None:
            yield account, resources_of(account, estate.parent.sid)


# --- running the pack's rules ----------------------------------------------------------------


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _engine_props(props: Mapping[str, Any]) -> Any:
    # What the engine hands a rule: null props dropped, the rest behind the unknown-checking
    # proxy (nothing is unknown here: everything was read from Twilio).
    return unknown_checking_proxy({k: v for k, v in props.items() if v is not None})


def _policy_resources(resources: Sequence[RuleResource]) -> list[PolicyResource]:
    built: dict[str, PolicyResource] = {}

    def build(resource: RuleResource) -> PolicyResource:
        if resource.urn not in built:
            deps = {
                prop: [build(dep) for dep in deps]
                for prop, deps in resource.property_dependencies.items()
            }
            built[resource.urn] = PolicyResource(
                resource.type,
                _engine_props(resource.props),
                resource.urn,
                resource.name,
                _options(),
                None,
                None,
                [dep for listed in deps.values() for dep in listed],
                deps,
            )
        return built[resource.urn]

    return [build(resource) for resource in resources]


def _run(result: Any) -> None:
    if inspect.isawaitable(result):
        asyncio.run(result)


def pack_policies() -> list[Policy]:
    return [p for p in guardrails().POLICIES if p.name not in NOT_APPLICABLE]


def run_policy(
    policy: Policy, resources: Sequence[RuleResource], config: Mapping[str, Any]
) -> list[Violation]:
    """One pack rule over these resources, exactly as `pulumi preview --policy-pack` runs it."""
    subjects = {r.urn: r for r in resources}
    found: list[Violation] = []

    def report(message: str, urn: str | None = None) -> None:
        resource = subjects.get(urn) if urn else None
        found.append(
            Violation(
                policy.name,
                message,
                resource.subject if resource else None,
                via_sender_pool=resource is not None and resource.type == SENDER_POOL,
            )
        )

    if isinstance(policy, ResourceValidationPolicy):
        for resource in resources:
            current = resource.urn

            def report_this(message: str, urn: str | None = None, _urn: str = current) -> None:
                report(message, urn or _urn)

            args = ResourceValidationArgs(
                resource.type,
                _engine_props(resource.props),
                resource.urn,
                resource.name,
                _options(),
                None,
                config,
            )
            _run(policy.validate(args, report_this))
    else:
        _run(policy.validate(StackValidationArgs(_policy_resources(resources), config), report))
    return found


def judge(
    estate: Estate, settings: Mapping[str, Mapping[str, Any]], enabled: Iterable[str]
) -> list[Violation]:
    """Every enabled pack rule over the estate: per account, and stack-wide where it must."""
    wanted = set(enabled)
    policies = [p for p in pack_policies() if p.name in wanted]
    per_account = list(estate_resources(estate))
    violations: list[Violation] = []
    for policy in policies:
        config = dict(settings.get(policy.name, {}))
        if policy.name in STACK_WIDE:
            subaccounts = [r for _, rs in per_account for r in rs if r.type == SUBACCOUNT]
            violations.extend(run_policy(policy, subaccounts, config))
            continue
        for _account, resources in per_account:
            violations.extend(run_policy(policy, resources, config))
    return violations
