"""A stack policy's view of the estate: the Twilio resources by type, each tenant's
environment, and props read without tripping over values unknown during preview.

In a stack policy one unknown value that escapes `validate` turns the whole rule into an
advisory "can't run during preview" note, so a mandatory rule would check nothing. Props are
therefore read with `value()`, which answers UNKNOWN instead of raising; a rule skips only what
depends on it. The same rules run again during `pulumi up`, when every input is known.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from twilio_guardrails import tokens


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


def value(props: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """props[key], `default` when absent (the engine drops null props), UNKNOWN when unknown."""
    try:
        return props.get(key, default)
    except UnknownValueError:
        return UNKNOWN


def items(props: Mapping[str, Any], key: str) -> list[Any] | _Unknown:
    """A list prop with each element read like `value()`; UNKNOWN when the list itself is."""
    listed = value(props, key, [])
    if listed is UNKNOWN:
        return UNKNOWN
    if isinstance(listed, str) or not isinstance(listed, Sequence):
        return [listed]
    result = []
    for index in range(len(listed)):
        try:
            result.append(listed[index])
        except UnknownValueError:
            result.append(UNKNOWN)
    return result


def is_known_text(candidate: Any) -> bool:
    return isinstance(candidate, str) and bool(candidate)


def describe(resource: PolicyResource) -> str:
    """`MessagingService 'acme-svc-notifications'`: how messages name a resource."""
    return f"{tokens.kind_of(resource.resource_type)} '{resource.name}'"


@dataclass
class Estate:
    resources: list[PolicyResource]
    _by_type: dict[str, list[PolicyResource]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for resource in self.resources:
            self._by_type.setdefault(resource.resource_type, []).append(resource)

    def of(self, *types: str) -> list[PolicyResource]:
        """Resources of these types, in a stable order (by name)."""
        found = [r for t in types for r in self._by_type.get(t, [])]
        return sorted(found, key=lambda r: (r.name, r.urn))

    def subaccounts_of(self, account_key: str) -> list[PolicyResource]:
        return [
            r
            for r in self.of(tokens.SUBACCOUNT)
            if value(r.props, tokens.ACCOUNT_KEY) == account_key
        ]

    def environment_of(self, account_key: Any) -> str | None:
        """The environment of a tenant's subaccount; None for the parent, an unknown key, a
        tenant without (or with an ambiguous) subaccount in this stack."""
        if not is_known_text(account_key) or account_key == tokens.PARENT_ACCOUNT_KEY:
            return None
        environments = {
            value(r.props, tokens.ENVIRONMENT) for r in self.subaccounts_of(account_key)
        }
        if len(environments) != 1:
            return None
        [environment] = environments
        return environment if is_known_text(environment) else None

    def in_accounts(self, *types: str) -> Iterator[tuple[PolicyResource, Any, str | None]]:
        """(resource, account_key, environment) for resources that live inside an account."""
        for resource in self.of(*types):
            account_key = value(resource.props, tokens.ACCOUNT_KEY)
            yield resource, account_key, self.environment_of(account_key)


def where(account_key: Any, environment: str | None) -> str:
    """`tenant 'acme', production` for messages."""
    if account_key == tokens.PARENT_ACCOUNT_KEY:
        return "the parent account"
    tenant = f"tenant '{account_key}'" if is_known_text(account_key) else "an unnamed tenant"
    return f"{tenant}, {environment}" if environment else tenant
