"""The data every rule decides on, and how a resource's account is traced.

STABLE SHAPE (the `audit` command builds it from a live Twilio account and runs the same rule
functions on it, so the pack and the audit cannot disagree; extend it, never change it):

    Resource                     one Twilio object, frozen
      type: str                  type token (`tokens.ALL`); rules ignore every other type
      urn: str                   unique within the estate; `dependencies` refer to it
      name: str                  how a message names the resource
      props: Mapping[str, Any]   plain JSON values keyed by the providers' input names
                                 (`tokens`): str, int, float, bool, list, dict. A value not known
                                 yet (a preview) is `UNKNOWN`, at any depth. An absent prop is
                                 absent, never None.
      dependencies: Mapping[str, tuple[str, ...]]
                                 prop name -> URNs of the resources its value was computed from
                                 (Pulumi's property dependencies). `account_sid` is the one the
                                 account is traced through; `service_sid` and
                                 `phone_number_sids` name a pool's service and numbers.
      protect: bool              deleting it needs an explicit unprotect first

    Estate(resources)            one stack's resources (or one audited account tree)
      account_of(resource) -> Account
                                 the account Twilio will put the resource in: the Subaccount
                                 resource its `account_sid` was produced by, or else the parent
      environment_of(resource) -> str | None
                                 the `environment` prop of that Subaccount (None: the parent,
                                 or not known)

    Account
      subaccount: Resource | None   None: the parent account (or undecided, see `decided`)
      decided: bool                 False only while a preview cannot tell (an unknown
                                    account_sid computed from several Subaccounts)
      why: str                      for messages: how the account was traced

Tracing `account_sid` (a resource type without one, like Subaccount, lives in the parent):
  - its dependencies name exactly one Subaccount of the estate: that subaccount, unless the
    value is known and differs from that subaccount's known `sid` (then the parent: the value
    was computed from the subaccount but is not its SID);
  - they name several: the one whose known `sid` equals the known value; undecided while the
    value is unknown; the parent when no SID matches;
  - they name none (a literal SID, config, any other resource's output): the parent. A literal
    SID counts as the parent even when it is a subaccount's: only the graph shows what a
    pull request's preview cannot (which account a resource will really land in).

Labels (`account_key`) decide nothing; messages quote them where they help.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from twilio_guardrails import tokens


class _Unknown(Enum):
    """A value the preview does not know yet; `pulumi up` checks again once it is. One
    member, so `value is UNKNOWN` is a check the type checker understands."""

    UNKNOWN = "UNKNOWN"

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown.UNKNOWN

_ENGINE_UNKNOWNS: Final = frozenset(
    {
        UNKNOWN_STRING_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
    }
)


def plain(engine_value: Any) -> Any:
    """An engine value (unknowns as pulumi_policy's sentinel strings) as plain data with
    UNKNOWN in their place."""
    if isinstance(engine_value, str):
        return UNKNOWN if engine_value in _ENGINE_UNKNOWNS else engine_value
    if isinstance(engine_value, Mapping | Sequence) and not isinstance(engine_value, dict | list):
        engine_value = _target(engine_value)
    if isinstance(engine_value, Mapping):
        return {key: plain(item) for key, item in engine_value.items()}
    if isinstance(engine_value, list | tuple):
        return [plain(item) for item in engine_value]
    return engine_value


@dataclass(frozen=True)
class Resource:
    type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    protect: bool = False

    @property
    def kind(self) -> str:
        return tokens.kind_of(self.type)

    def value(self, key: str, default: Any = None) -> Any:
        """props[key]; `default` when absent (the engine drops null props)."""
        return self.props.get(key, default)

    def items(self, key: str) -> list[Any] | _Unknown:
        """A list prop (a lone value as a one-element list); UNKNOWN when the list is."""
        listed = self.props.get(key, [])
        if listed is UNKNOWN:
            return UNKNOWN
        if isinstance(listed, str) or not isinstance(listed, Sequence):
            return [listed]
        return list(listed)

    def describe(self) -> str:
        """`MessagingService 'acme-svc-notifications'`: how messages name a resource."""
        return f"{self.kind} '{self.name}'"


@dataclass(frozen=True)
class Account:
    subaccount: Resource | None
    decided: bool = True
    why: str = field(default="", compare=False)

    @property
    def is_parent(self) -> bool:
        return self.decided and self.subaccount is None

    @property
    def identity(self) -> str:
        """What groups resources by account: the Subaccount's URN, or `parent`."""
        return self.subaccount.urn if self.subaccount is not None else tokens.PARENT_ACCOUNT_KEY


def is_known_text(candidate: Any) -> bool:
    return isinstance(candidate, str) and bool(candidate)


class Estate:
    """The resources of one stack, indexed by URN and type, accounts traced once."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources: tuple[Resource, ...] = tuple(resources)
        self._by_urn = {resource.urn: resource for resource in self.resources}
        self._by_type: dict[str, list[Resource]] = {}
        for resource in self.resources:
            self._by_type.setdefault(resource.type, []).append(resource)
        for listed in self._by_type.values():
            listed.sort(key=lambda r: (r.name, r.urn))
        self._accounts: dict[str, Account] = {}

    def of(self, *types: str) -> list[Resource]:
        """Resources of these types, in a stable order (by type given, then name)."""
        return [r for t in types for r in self._by_type.get(t, [])]

    def get(self, urn: str) -> Resource | None:
        return self._by_urn.get(urn)

    def depends_on(self, resource: Resource, prop: str, *types: str) -> list[Resource]:
        """The resources of these types in the estate that `prop`'s value was computed from."""
        found = (self._by_urn.get(urn) for urn in resource.dependencies.get(prop, ()))
        return [r for r in found if r is not None and r.type in types]

    def account_of(self, resource: Resource) -> Account:
        cached = self._accounts.get(resource.urn)
        if cached is None:
            cached = self._accounts[resource.urn] = self._trace(resource)
        return cached

    def _trace(self, resource: Resource) -> Account:
        if resource.type == tokens.SUBACCOUNT or tokens.ACCOUNT_SID not in resource.props:
            if resource.type == tokens.SUBACCOUNT:
                return Account(None, why="subaccounts are created by the parent")
            return Account(None, why="it names no account_sid, so Twilio uses the parent's")
        sid = resource.value(tokens.ACCOUNT_SID)
        sources = self.depends_on(resource, tokens.ACCOUNT_SID, tokens.SUBACCOUNT)
        if not sources:
            shown = _short(sid)
            return Account(
                None,
                why=f"its account_sid ({shown}) comes from no Subaccount of this stack",
            )
        if len(sources) == 1:
            [source] = sources
            own = source.value("sid")
            if is_known_text(sid) and is_known_text(own) and sid != own:
                return Account(
                    None,
                    why=f"its account_sid ({_short(sid)}) is computed from "
                    f"{source.describe()} but is not that subaccount's SID",
                )
            return Account(source, why=f"its account_sid is {source.describe()}'s SID")
        if not is_known_text(sid):
            return Account(None, decided=False, why="its account_sid is not known yet")
        for source in sources:
            if source.value("sid") == sid:
                return Account(source, why=f"its account_sid is {source.describe()}'s SID")
        return Account(
            None,
            why=f"its account_sid ({_short(sid)}) is the SID of none of the subaccounts it is "
            "computed from",
        )

    def environment_of(self, resource: Resource) -> str | None:
        """The environment of the subaccount a resource lives in (None for the parent)."""
        if resource.type == tokens.SUBACCOUNT:
            environment = resource.value(tokens.ENVIRONMENT)
        else:
            subaccount = self.account_of(resource).subaccount
            environment = subaccount.value(tokens.ENVIRONMENT) if subaccount else None
        return environment if is_known_text(environment) else None

    def in_accounts(self, *types: str) -> Iterator[tuple[Resource, Account, str | None]]:
        """(resource, its account, that account's environment) for resources of these types."""
        for resource in self.of(*types):
            yield resource, self.account_of(resource), self.environment_of(resource)


def where(account: Account, environment: str | None = None) -> str:
    """`subaccount 'acme' (production)` or `the parent account`, for messages."""
    if not account.decided:
        return "an account not known yet"
    if account.subaccount is None:
        return "the parent account"
    shown = f"subaccount '{account.subaccount.name}'"
    return f"{shown}, {environment}" if environment else shown


def _short(sid: Any) -> str:
    if sid is UNKNOWN:
        return "not known until it is created"
    if is_known_text(sid):
        return f"'{sid}'"
    return "empty"


# -- from the engine ---------------------------------------------------------------------------


def from_policy_resources(resources: Iterable[Any]) -> Estate:
    """The estate of a stack policy's `args.resources` (pulumi_policy PolicyResource objects):
    props unwrapped from the SDK's unknown-checking proxy, unknowns as UNKNOWN."""
    converted = []
    for resource in resources:
        if resource.resource_type not in tokens.ALL:
            continue  # components, providers, anything not a Twilio object
        converted.append(
            Resource(
                type=resource.resource_type,
                urn=resource.urn,
                name=resource.name,
                props=plain(resource.props),
                dependencies={
                    prop: tuple(dependency.urn for dependency in dependencies)
                    for prop, dependencies in resource.property_dependencies.items()
                },
                protect=bool(resource.opts.protect),
            )
        )
    return Estate(converted)


def _target(wrapped: Any) -> Any:
    # The SDK's unknown-checking proxies (one per dict and list, nested) hand out what they
    # wrap under this key, without the check that would raise on an unknown.
    try:
        return wrapped["__target"]
    except (KeyError, TypeError, IndexError):
        return dict(wrapped) if isinstance(wrapped, Mapping) else list(wrapped)
