"""The estate a stack file declares under `twilio-landing-zone:architecture`: its tenants, the
whole architecture and the stack's settings, each with the rules that look across its parts.

One model per section of the stack file, each with its rules beside its fields, so a rule and
what it checks are read together. The values and their field rules are in
architecture/fields.py, what a tenant declares inside its subaccount (API keys, Messaging
Services, senders) in architecture/tenant_parts.py, and the adopt map's rules in
architecture/adoption.py.

Every model is frozen and refuses unknown fields (a typo is an error, not a silently ignored
setting). Field-level checks are functions named after their rule; rules that look at several
fields are `@rule` methods named after their rule (see rulebook.py), all reported together. The
policy pack enforces the same guardrails again on the resources the program registers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidatorFunctionWrapHandler, model_validator

from architecture import adoption, identity, urls
from architecture.fields import (
    ADOPTED_NAMES,
    COLLECTOR,
    PRODUCTION,
    TENANT_KEY,
    AdoptableSid,
    E164Number,
    Environment,
    HumanText,
    ResourceName,
    Style,
    TenantKey,
    TenantRole,
    TransferSource,
    WebhookUrl,
    validated_within,
)
from architecture.rulebook import RuleModel, Violation, repeats, rule
from architecture.tenant_parts import ApiKey, MessagingService


class Tenant(RuleModel):
    """One subaccount: a business unit (direct), a customer or a shared environment (ISV)."""

    key: TenantKey  # immutable: feeds the logical names and identity tags
    display_name: HumanText  # renames update in place
    environment: Environment
    # Defaults from the style: direct -> business_unit; ISV -> customer in production, shared
    # elsewhere. Declaring it makes the ISV tenancy rules checkable.
    role: TenantRole | None = None
    api_keys: tuple[ApiKey, ...] = ()
    services: tuple[MessagingService, ...] = ()

    @model_validator(mode="wrap")
    @classmethod
    def validated_as_its_key(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        key = data.get("key") if isinstance(data, dict) else None
        return validated_within(TENANT_KEY, str(key), handler, data)

    @property
    def is_production(self) -> bool:
        return self.environment == PRODUCTION

    @rule
    def one_service_per_use_case(self) -> Iterator[Violation]:
        for index, use_case, first in repeats(tuple(s.use_case for s in self.services)):
            yield Violation(
                ("services", index, "use_case"),
                f"{use_case!r} is already the use case of services[{first}]; at most one "
                "messaging service per use case per tenant",
                use_case,
            )

    @rule
    def api_key_names_unique(self) -> Iterator[Violation]:
        for index, name, first in repeats(tuple(k.name for k in self.api_keys)):
            yield Violation(
                ("api_keys", index, "name"),
                f"{name!r} is already the name of api_keys[{first}]; key names are unique per "
                "tenant",
                name,
            )

    @rule
    def production_keys_are_restricted(self) -> Iterator[Violation]:
        # The pack's restricted-api-keys: a standard key can use every API of its subaccount.
        if not self.is_production:
            return
        for index, key in enumerate(self.api_keys):
            if key.kind != "restricted":
                yield Violation(
                    ("api_keys", index, "kind"),
                    f"{key.kind!r} in production; production keys are restricted to what the "
                    "app needs: kind: restricted, with its permissions",
                    key.kind,
                )

    @rule
    def production_services_report_delivery_status(self) -> Iterator[Violation]:
        # The pack's status-callback-required: every message sent is tracked.
        if not self.is_production:
            return
        for index, service in enumerate(self.services):
            if service.webhooks.status_callback is None:
                yield Violation(
                    ("services", index, "webhooks", "status_callback"),
                    "is required in production: every service reports delivery status; set "
                    "'collector' or an HTTPS URL",
                    None,
                )

    @rule
    def loopback_only_outside_production(self) -> Iterator[Violation]:
        if not self.is_production:
            return
        for service_index, service in enumerate(self.services):
            for loc, url in service.webhook_urls():
                if urls.is_loopback(url):
                    yield Violation(
                        ("services", service_index, *loc),
                        f"{url!r} is a loopback URL; loopback webhooks are allowed only outside "
                        "production",
                        url,
                    )


class Architecture(RuleModel):
    """The whole estate one stack owns."""

    style: Style
    environments: Annotated[tuple[Environment, ...], Field(min_length=1)]
    tenants: tuple[Tenant, ...] = ()
    # Existing objects this stack manages from now on: resource name (the account, an API
    # key, a service or an exact number) -> the SID of the object in Twilio. An adopted object
    # keeps its name (no identity tag): its SID is its identity. `python -m estate discover`
    # writes it.
    adopt: dict[ResourceName, AdoptableSid] = Field(default_factory=dict)
    # Adopted numbers that live in another account of the parent now, and where: `parent`, an
    # adopted tenant's key, or an account SID. `up` moves each with Twilio's number transfer
    # (same number, same SID; never released and bought again).
    transfers: dict[E164Number, TransferSource] = Field(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def validated_with_its_adopt_map(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        adopt = data.get("adopt") if isinstance(data, dict) else None
        names = frozenset(str(name) for name in adopt) if isinstance(adopt, dict) else frozenset()
        return validated_within(ADOPTED_NAMES, names, handler, data)

    def violations_in_tree(self, loc=()):
        # What an adopted object already is in Twilio is accepted as found where a tenant
        # rule would refuse it for a created one (architecture.adoption.accepted_as_found).
        for name, violation in super().violations_in_tree(loc):
            where = violation.loc[len(loc) :]
            if not adoption.accepted_as_found(self.tenants, self.adopt, name, where):
                yield name, violation

    def role_of(self, tenant: Tenant) -> TenantRole:
        if tenant.role is not None:
            return tenant.role
        if self.style == "direct":
            return "business_unit"
        return "customer" if tenant.is_production else "shared"

    @rule
    def environments_listed_once(self) -> Iterator[Violation]:
        for index, environment, first in repeats(self.environments):
            yield Violation(
                ("environments", index),
                f"{environment!r} is already listed at environments[{first}]",
                environment,
            )

    @rule
    def unique_tenant_keys(self) -> Iterator[Violation]:
        for index, key, first in repeats(tuple(t.key for t in self.tenants)):
            yield Violation(
                ("tenants", index, "key"),
                f"{key!r} is already the key of tenants[{first}]; tenant keys are unique",
                key,
            )

    @rule
    def tenant_environment_is_owned(self) -> Iterator[Violation]:
        owned = ", ".join(dict.fromkeys(self.environments))
        for index, tenant in enumerate(self.tenants):
            if tenant.environment not in self.environments:
                yield Violation(
                    ("tenants", index, "environment"),
                    f"{tenant.environment!r} is not an environment this stack owns ({owned})",
                    tenant.environment,
                )

    @rule
    def every_environment_has_a_tenant(self) -> Iterator[Violation]:
        used = {tenant.environment for tenant in self.tenants}
        seen: set[str] = set()
        for index, environment in enumerate(self.environments):
            if environment not in used and environment not in seen:
                yield Violation(
                    ("environments", index),
                    f"{environment!r} has no tenant; every environment the stack owns needs at "
                    "least one subaccount",
                    environment,
                )
            seen.add(environment)

    @rule
    def isv_production_tenants_are_customers(self) -> Iterator[Violation]:
        if self.style != "isv":
            return
        for index, tenant in enumerate(self.tenants):
            if tenant.is_production and self.role_of(tenant) != "customer":
                yield Violation(
                    ("tenants", index, "role"),
                    f"{tenant.role!r} in production; an ISV's production tenants are customers "
                    "(one subaccount per customer)",
                    tenant.role,
                )

    @rule
    def isv_one_shared_subaccount_per_environment(self) -> Iterator[Violation]:
        if self.style != "isv":
            return
        first_of: dict[str, int] = {}
        for index, tenant in enumerate(self.tenants):
            if tenant.is_production:
                continue
            if self.role_of(tenant) != "shared":
                yield Violation(
                    ("tenants", index, "role"),
                    f"{tenant.role!r} in {tenant.environment}; an ISV's non-production "
                    "environments have one shared subaccount each",
                    tenant.role,
                )
            if tenant.environment in first_of:
                yield Violation(
                    ("tenants", index, "environment"),
                    f"{tenant.environment!r} already has its shared subaccount "
                    f"tenants[{first_of[tenant.environment]}]; an ISV's non-production "
                    "environments have one shared subaccount each",
                    tenant.environment,
                )
            else:
                first_of[tenant.environment] = index

    @rule
    def direct_tenants_are_business_units(self) -> Iterator[Violation]:
        if self.style != "direct":
            return
        for index, tenant in enumerate(self.tenants):
            if self.role_of(tenant) != "business_unit":
                yield Violation(
                    ("tenants", index, "role"),
                    f"{tenant.role!r} in a direct-style stack; its tenants are business units "
                    "(customers and shared subaccounts are ISV roles)",
                    tenant.role,
                )

    @rule
    def sender_in_one_service(self) -> Iterator[Violation]:
        # Twilio refuses a number or short code already in another service (21712); say so
        # before any write. Duplicates inside one service are that service's own rule.
        owner: dict[str, tuple[int, int]] = {}
        for t_index, tenant in enumerate(self.tenants):
            for s_index, service in enumerate(tenant.services):
                senders = service.senders
                listed: list[tuple[tuple[str | int, ...], str]] = [
                    (("short_codes", i), sid) for i, sid in enumerate(senders.short_codes)
                ]
                if senders.phone_numbers is not None:
                    listed += [
                        (("phone_numbers", "numbers", i), number)
                        for i, number in enumerate(senders.phone_numbers.numbers)
                    ]
                for loc, sender in listed:
                    first = owner.setdefault(sender, (t_index, s_index))
                    if first != (t_index, s_index):
                        yield Violation(
                            ("tenants", t_index, "services", s_index, "senders", *loc),
                            f"{sender!r} is already a sender of tenants[{first[0]}]"
                            f".services[{first[1]}]; a number or short code belongs to at most "
                            "one messaging service",
                            sender,
                        )

    @rule
    def unique_logical_names(self) -> Iterator[Violation]:
        # Keys are slugs joined by '-', so two tenants could in principle derive the same
        # resource name ('a' + key 'key-b' vs 'a-key' + key 'b'); Pulumi would refuse the twin.
        keys = Counter(t.key for t in self.tenants)
        owner: dict[str, str] = {}
        for index, tenant in enumerate(self.tenants):
            if keys[tenant.key] > 1:
                continue  # reported by unique_tenant_keys
            for name in _logical_names(tenant):
                if name in owner and owner[name] != tenant.key:
                    yield Violation(
                        ("tenants", index, "key"),
                        f"{tenant.key!r} derives the resource name {name!r}, which tenant "
                        f"{owner[name]!r} derives too; choose another key",
                        tenant.key,
                    )
                    break
                owner[name] = tenant.key

    @rule
    def adopt_names_an_adoptable_resource(self) -> Iterator[Violation]:
        yield from adoption.adopt_names_an_adoptable_resource(self.tenants, self.adopt)

    @rule
    def transfers_move_adopted_numbers(self) -> Iterator[Violation]:
        yield from adoption.transfers_move_adopted_numbers(self.tenants, self.adopt, self.transfers)

    @rule
    def adopt_each_object_once(self) -> Iterator[Violation]:
        yield from adoption.adopt_each_object_once(self.adopt)


def _logical_names(tenant: Tenant) -> Iterator[str]:
    yield identity.account_logical_name(tenant.key)
    for key in tenant.api_keys:
        yield identity.api_key_logical_name(tenant.key, key.name)
    for service in tenant.services:
        yield identity.service_logical_name(tenant.key, service.use_case)
        yield identity.sender_pool_logical_name(tenant.key, service.use_case)
        numbers = service.senders.phone_numbers
        if numbers is None:
            continue
        if numbers.is_search:
            for position in range(1, numbers.size + 1):
                yield identity.phone_number_logical_name(tenant.key, service.use_case, position)
        else:
            for number in numbers.numbers:
                yield identity.exact_number_logical_name(tenant.key, number)


class StackSettings(RuleModel):
    """Everything the program reads from one stack's config in the project namespace."""

    project: Annotated[str, StringConstraints(min_length=1)]
    stack: Annotated[str, StringConstraints(min_length=1)]
    architecture: Architecture
    collector_url: WebhookUrl | None = None
    # Other plain (non-secret) project settings, passed through untouched.
    settings: dict[str, Any] = Field(default_factory=dict)

    def collector_references(self) -> Iterator[tuple[int, int, Tenant]]:
        for t_index, tenant in enumerate(self.architecture.tenants):
            for s_index, service in enumerate(tenant.services):
                if service.webhooks.status_callback == COLLECTOR:
                    yield t_index, s_index, tenant

    @rule
    def collector_url_set_when_used(self) -> Iterator[Violation]:
        if self.collector_url is not None:
            return
        for t_index, s_index, _ in self.collector_references():
            yield Violation(
                _status_callback_loc(t_index, s_index),
                f"'collector' needs {self.project}:collectorUrl, which this stack does not set",
                COLLECTOR,
            )

    @rule
    def loopback_only_outside_production(self) -> Iterator[Violation]:
        if self.collector_url is None or not urls.is_loopback(self.collector_url):
            return
        reported = False
        for t_index, s_index, tenant in self.collector_references():
            if tenant.is_production:
                reported = True
                yield Violation(
                    _status_callback_loc(t_index, s_index),
                    f"'collector' resolves to the loopback URL {self.collector_url!r}; loopback "
                    "webhooks are allowed only outside production",
                    COLLECTOR,
                )
        production = self.production_tenants()
        if production and not reported:
            # No service names 'collector', but Twilio's auto-generated default service of
            # every tenant reports to the collector URL: in production it must be reachable.
            yield Violation(
                ("collector_url",),
                f"{self.collector_url!r} is a loopback URL, and the auto-generated default "
                f"Messaging Service of each production tenant ({production}) reports to it; "
                "loopback webhooks are allowed only outside production",
                self.collector_url,
            )

    @rule
    def default_services_report_delivery_status(self) -> Iterator[Violation]:
        # The pack's status-callback-required covers Twilio's default service of each account,
        # which carries the messages sent without a service: its callback is the collector URL.
        if self.collector_url is not None or any(self.collector_references()):
            return  # set, or already reported where 'collector' is used
        production = self.production_tenants()
        if production:
            yield Violation(
                ("collector_url",),
                "is required in production: the auto-generated default Messaging Service of "
                f"each production tenant ({production}) reports delivery status to it",
                None,
            )

    def production_tenants(self) -> str:
        """`tenants[0] 'acme', tenants[2] 'globex'` for messages; empty when there are none.
        Adopted tenants are left out: their default service keeps the callback it has until
        the stack sets a collector URL (the audit reports a missing one)."""
        return ", ".join(
            f"tenants[{index}] {tenant.key!r}"
            for index, tenant in enumerate(self.architecture.tenants)
            if tenant.is_production and tenant.key not in self.architecture.adopt
        )


def _status_callback_loc(t_index: int, s_index: int) -> tuple[str | int, ...]:
    return ("architecture", "tenants", t_index, "services", s_index, "webhooks", "status_callback")
