"""Run the pack's rules without the engine, on resources shaped the way the engine hands them
over: props behind pulumi_policy's unknown-checking proxy, null props dropped, `protect` in
the options, and the PhoneNumbers a SenderPool's `phone_number_sids` depends on.

Builders make one compliant production tenant by default; tests change one thing each. A
resource inside a tenant's subaccount carries the engine's record that its `account_sid` came
from that Subaccount resource (`property_dependencies`), as the program registers it; the key
`parent` means a literal parent SID and no such record.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from twilio_guardrails import tokens
from twilio_guardrails.rules import Rule

__all__ = ["UNKNOWN_ARRAY_VALUE", "UNKNOWN_STRING_VALUE"]

HTTPS_CALLBACK = "https://hooks.example.com/twilio/status"
PARENT_SID = "AC" + "0" * 32
LOOPBACK_CALLBACK = "http://127.0.0.1:4020/twilio/status"
SEND_PERMISSION = "/twilio/messaging/messages/create"


@dataclass(frozen=True)
class Violation:
    message: str
    urn: str | None


def urn(token: str, name: str) -> str:
    return f"urn:pulumi:test::twilio-landing-zone::{token}::{name}"


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _engine_props(props: Mapping[str, Any]) -> Mapping[str, Any]:
    # The engine drops null props and wraps the rest in the unknown-checking proxy.
    return unknown_checking_proxy({k: v for k, v in props.items() if v is not None})


def _collect() -> tuple[list[Violation], Any]:
    found: list[Violation] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(Violation(message, urn))

    return found, report


def _run(result: Any) -> None:
    if inspect.isawaitable(result):
        asyncio.run(result)


def check_stack(
    rule: Rule | Policy,
    resources: Iterable[PolicyResource],
    config: Mapping[str, Any] | None = None,
) -> list[Violation]:
    """A rule through its pulumi-policy wrapper, as the engine's AnalyzeStack runs it."""
    policy = rule.policy() if isinstance(rule, Rule) else rule
    found, report = _collect()
    _run(policy.validate(StackValidationArgs(list(resources), config), report))
    return found


def messages(violations: Sequence[Violation]) -> list[str]:
    return [violation.message for violation in violations]


# -- builders ------------------------------------------------------------------------------


def resource(
    token: str,
    name: str,
    props: Mapping[str, Any],
    *,
    protect: bool = False,
    property_dependencies: dict[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        token,
        _engine_props(props),
        urn(token, name),
        name,
        options(protect),
        None,
        None,
        [],
        property_dependencies or {},
    )


def subaccount(
    key: str = "acme",
    environment: str = "production",
    *,
    name: str | None = None,
    protect: bool | None = None,
    **extra: Any,
) -> PolicyResource:
    props = {
        "account_key": key,
        "environment": environment,
        "friendly_name": f"{key} ({environment}) [tlz:0123456789]",
        "tag": "0123456789",
        "status": "active",
        "sid": UNKNOWN_STRING_VALUE,
        **extra,
    }
    if protect is None:
        protect = environment == "production"
    return resource(tokens.SUBACCOUNT, name or key, props, protect=protect)


def in_account(key: str) -> tuple[Any, dict[str, list[PolicyResource]]]:
    """(account_sid, property dependencies) of a resource in tenant `key`'s subaccount, as
    the program registers it during the preview that creates the subaccount; a literal parent
    SID for the key `parent`."""
    if key == "parent":
        return PARENT_SID, {}
    return UNKNOWN_STRING_VALUE, {"account_sid": [subaccount(key)]}


def service(
    key: str = "acme",
    use_case: str = "notifications",
    *,
    name: str | None = None,
    status_callback: str | None = HTTPS_CALLBACK,
    **extra: Any,
) -> PolicyResource:
    account_sid, dependencies = in_account(key)
    dependencies = {**dependencies, **extra_dependencies(extra)}
    props = {
        "account_key": key,
        "account_sid": account_sid,
        "tag": "1111111111",
        "friendly_name": f"{key} {use_case} [tlz:1111111111]",
        "use_case": use_case,
        "inbound_request_url": "https://api.example.com/twilio/inbound",
        "status_callback": status_callback,
        **extra,
    }
    return resource(
        tokens.MESSAGING_SERVICE,
        name or f"{key}-svc-{use_case}",
        props,
        property_dependencies=dependencies,
    )


def default_service(
    key: str = "acme", *, status_callback: str | None = HTTPS_CALLBACK
) -> PolicyResource:
    account_sid, dependencies = in_account(key)
    props = {
        "account_key": key,
        "account_sid": account_sid,
        "status_callback": status_callback,
    }
    return resource(
        tokens.DEFAULT_MESSAGING_SERVICE,
        f"{key}-default-service",
        props,
        property_dependencies=dependencies,
    )


def phone_number(
    key: str = "acme",
    use_case: str = "notifications",
    suffix: int = 1,
    *,
    protect: bool = True,
    sid: str = UNKNOWN_STRING_VALUE,
    **extra: Any,
) -> PolicyResource:
    account_sid, dependencies = in_account(key)
    dependencies = {**dependencies, **extra_dependencies(extra)}
    props = {
        "account_key": key,
        "account_sid": account_sid,
        "use_case": use_case,
        "tag": "2222222222",
        "friendly_name": f"{key} {use_case} #{suffix} [tlz:2222222222]",
        "country": "US",
        "area_code": "415",
        "sid": sid,
        **extra,
    }
    return resource(
        tokens.PHONE_NUMBER,
        f"{key}-num-{use_case}-{suffix}",
        props,
        protect=protect,
        property_dependencies=dependencies,
    )


def sender_pool(
    key: str = "acme",
    use_case: str = "notifications",
    numbers: Sequence[PolicyResource] = (),
    *,
    short_codes: Sequence[str] = (),
    alpha_senders: Sequence[str] = (),
    extra_sids: Sequence[str] = (),
    name: str | None = None,
) -> PolicyResource:
    """A pool of `numbers` (PhoneNumber resources: their SIDs as the engine has them, plus the
    dependency record) and literal `extra_sids`."""
    sids = [_sid_of(number) for number in numbers] + list(extra_sids)
    account_sid, dependencies = in_account(key)
    props = {
        "account_key": key,
        "account_sid": account_sid,
        "use_case": use_case,
        "service_sid": UNKNOWN_STRING_VALUE,
        "phone_number_sids": sids,
        "short_code_sids": list(short_codes),
        "alpha_senders": list(alpha_senders),
        "movable_from_tags": [],
    }
    return resource(
        tokens.SENDER_POOL,
        name or f"{key}-svc-{use_case}-pool",
        props,
        property_dependencies={**dependencies, "phone_number_sids": list(numbers)},
    )


def extra_dependencies(extra: dict[str, Any]) -> dict[str, list[PolicyResource]]:
    """A test's own `account_sid=...` replaces the tenant's: its dependencies come with it
    through `account_sid_from=[...]` (popped from `extra`)."""
    if "account_sid_from" in extra:
        return {"account_sid": list(extra.pop("account_sid_from"))}
    return {}


def _sid_of(number: PolicyResource) -> str:
    return number.props["__target"]["sid"]


def api_key(
    key: str = "acme",
    key_name: str = "backend",
    *,
    kind: str = "restricted",
    permissions: Sequence[str] | str = (SEND_PERMISSION,),
) -> PolicyResource:
    account_sid, dependencies = in_account(key)
    props = {
        "account_key": key,
        "account_sid": account_sid,
        "key_name": key_name,
        "kind": kind,
        "permissions": permissions if isinstance(permissions, str) else list(permissions),
        "rotation": 0.0,
        "friendly_name": f"{key} {key_name} [tlz:3333333333]",
        "tag": "3333333333",
    }
    return resource(
        tokens.API_KEY, f"{key}-key-{key_name}", props, property_dependencies=dependencies
    )


def tenant(key: str = "acme", environment: str = "production") -> list[PolicyResource]:
    """One compliant tenant as the program registers it: subaccount, key, default service, a
    notifications service with two numbers in its pool."""
    protect = environment == "production"
    numbers = [phone_number(key, suffix=n, protect=protect) for n in (1, 2)]
    return [
        subaccount(key, environment),
        api_key(key),
        default_service(key),
        service(key),
        *numbers,
        sender_pool(key, numbers=numbers),
    ]
