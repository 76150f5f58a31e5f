"""The pure planner: validated settings -> the objects to create, fully named and resolved.

No Pulumi, no Twilio: components turn each planned object into one resource, providers use the
tag to find and adopt it. Everything here is deterministic for a given project, stack and
architecture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import identity_tags
from architecture import identity
from architecture.fields import COLLECTOR, PARENT_ACCOUNT_KEY, TenantRole
from architecture.model import Architecture, StackSettings, Tenant
from architecture.tenant_parts import ApiKey, MessagingService, PhoneNumbers


@dataclass(frozen=True)
class NumberSearch:
    """What Twilio's AvailablePhoneNumbers search is asked for when buying a number."""

    country: str
    area_code: str | None
    contains: str | None
    sms_enabled: bool


@dataclass(frozen=True)
class PlannedNumber:
    """One phone number bought (search) or adopted (exact) into a tenant's subaccount."""

    account_key: str
    use_case: str
    logical_name: str
    tag: str
    # None for an adopted number: it keeps the name it has in Twilio.
    friendly_name: str | None
    phone_number: str | None  # exact E.164 number, or None when Twilio picks by search
    search: NumberSearch | None  # set exactly when phone_number is None
    sms_url: str | None
    sms_method: str
    sms_fallback_url: str | None
    sms_fallback_method: str
    release_on_delete: bool
    protect: bool
    adopt_sid: str | None = None  # an existing number (PN…) managed from now on
    # Where the adopted number lives now, when not in this tenant: 'parent' or an account SID;
    # `up` moves it here with Twilio's number transfer.
    transfer_from: str | None = None


@dataclass(frozen=True)
class PlannedSenderPool:
    """The membership of a service's sender pool (attached concurrently in one operation)."""

    account_key: str
    use_case: str
    logical_name: str
    service_logical_name: str
    phone_numbers: tuple[str, ...]  # logical names of the PlannedNumbers of the service
    short_codes: tuple[str, ...]  # SC SIDs
    alpha_senders: tuple[str, ...]

    @property
    def sender_count(self) -> int:
        return len(self.phone_numbers) + len(self.short_codes) + len(self.alpha_senders)


@dataclass(frozen=True)
class PlannedService:
    """A Messaging Service; setting names are Twilio's parameters in snake_case."""

    account_key: str
    use_case: str
    logical_name: str
    tag: str
    friendly_name: str
    sticky_sender: bool
    area_code_geomatch: bool
    smart_encoding: bool
    mms_converter: bool
    fallback_to_long_code: bool
    scan_message_content: str
    validity_period: int
    synchronous_validation: bool
    use_inbound_webhook_on_number: bool
    inbound_request_url: str | None
    inbound_method: str
    fallback_url: str | None
    fallback_method: str
    status_callback: str | None  # resolved: 'collector' is already the collector URL here
    status_callback_is_collector: bool
    pool: PlannedSenderPool
    numbers: tuple[PlannedNumber, ...]
    adopt_sid: str | None = None  # an existing service (MG…) managed from now on


@dataclass(frozen=True)
class PlannedApiKey:
    account_key: str
    name: str
    logical_name: str
    tag: str
    friendly_name: str
    kind: str  # 'standard' or 'restricted'
    permissions: tuple[str, ...]
    rotation: int  # generation of the key; a new number mints a new key
    # An existing key (SK…) managed from now on, without its secret: generation 0 only.
    adopt_sid: str | None = None

    @property
    def policy(self) -> dict[str, Any] | None:
        """The IAM v1 `Policy` of a restricted key; None for a standard key."""
        return {"allow": list(self.permissions)} if self.kind == "restricted" else None


@dataclass(frozen=True)
class PlannedAccount:
    """A tenant's subaccount and everything inside it."""

    account_key: str  # the tenant key
    logical_name: str
    tag: str
    display_name: str
    friendly_name: str
    environment: str
    role: TenantRole
    protect: bool  # closing a subaccount is permanent: production ones are protected
    # Twilio auto-creates a default service per account; traffic sent without a service goes
    # through it, so it should report to the collector too (None when there is no collector).
    default_service_status_callback: str | None
    api_keys: tuple[PlannedApiKey, ...]
    services: tuple[PlannedService, ...]
    adopt_sid: str | None = None  # an existing subaccount (AC…) managed from now on


@dataclass(frozen=True)
class PlanCounts:
    accounts: int
    api_keys: int
    services: int
    sender_pools: int
    phone_numbers: int
    short_codes: int
    alpha_senders: int

    @property
    def resources(self) -> int:
        """Dynamic resources the plan implies: accounts, keys, services, pools and numbers."""
        return (
            self.accounts + self.api_keys + self.services + self.sender_pools + self.phone_numbers
        )


@dataclass(frozen=True)
class Plan:
    project: str
    stack: str
    style: str
    environments: tuple[str, ...]
    collector_url: str | None
    accounts: tuple[PlannedAccount, ...]
    # Other plain project settings, passed through (not part of the plan's identity).
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def account(self, account_key: str) -> PlannedAccount:
        for account in self.accounts:
            if account.account_key == account_key:
                return account
        raise KeyError(account_key)

    def services(self) -> Iterator[PlannedService]:
        for account in self.accounts:
            yield from account.services

    def numbers(self) -> Iterator[PlannedNumber]:
        for service in self.services():
            yield from service.numbers

    @property
    def counts(self) -> PlanCounts:
        services = list(self.services())
        return PlanCounts(
            accounts=len(self.accounts),
            api_keys=sum(len(account.api_keys) for account in self.accounts),
            services=len(services),
            sender_pools=len(services),
            phone_numbers=sum(len(service.numbers) for service in services),
            short_codes=sum(len(service.pool.short_codes) for service in services),
            alpha_senders=sum(len(service.pool.alpha_senders) for service in services),
        )


def build_plan(settings: StackSettings) -> Plan:
    """The plan of a validated stack (validation guarantees every name below is unique)."""
    architecture = settings.architecture
    return Plan(
        project=settings.project,
        stack=settings.stack,
        style=architecture.style,
        environments=tuple(dict.fromkeys(architecture.environments)),
        collector_url=settings.collector_url,
        accounts=tuple(
            _plan_account(settings, architecture, tenant) for tenant in architecture.tenants
        ),
        settings=dict(settings.settings),
    )


class _Namer:
    """Logical name -> (tag, FriendlyName) for one tenant of one stack."""

    def __init__(self, settings: StackSettings, tenant: Tenant) -> None:
        self._project = settings.project
        self._stack = settings.stack
        self._key = tenant.key
        self._adopt = settings.architecture.adopt
        self._transfers = settings.architecture.transfers

    def tag(self, logical_name: str) -> str:
        return identity_tags.identity_tag(self._project, self._stack, self._key, logical_name)

    def adopted(self, logical_name: str) -> str | None:
        return self._adopt.get(logical_name)

    def transfer_source(self, phone_number: str | None) -> str | None:
        """'parent' or the account SID an adopted number moves from (a tenant key named as
        the source is resolved to the SID it adopts)."""
        source = self._transfers.get(phone_number or "")
        if source is None or source == PARENT_ACCOUNT_KEY or source.startswith("AC"):
            return source
        return self._adopt.get(identity.account_logical_name(source))

    def friendly_name(self, human: str, logical_name: str) -> str:
        """What we create carries its identity tag; an adopted object keeps the name users
        see, exactly as declared (its SID is its identity)."""
        if self.adopted(logical_name):
            return human
        return identity_tags.friendly_name(human, self.tag(logical_name))


def _plan_account(
    settings: StackSettings, architecture: Architecture, tenant: Tenant
) -> PlannedAccount:
    namer = _Namer(settings, tenant)
    logical_name = identity.account_logical_name(tenant.key)
    api_keys = tuple(
        PlannedApiKey(
            account_key=tenant.key,
            name=key.name,
            logical_name=(key_name := identity.api_key_logical_name(tenant.key, key.name)),
            tag=namer.tag(key_name),
            friendly_name=_key_friendly_name(namer, tenant, key, key_name),
            kind=key.kind,
            permissions=key.permissions,
            rotation=key.rotation,
            # The adopted key is generation 0; a bumped rotation mints a managed one.
            adopt_sid=namer.adopted(key_name) if key.rotation == 0 else None,
        )
        for key in tenant.api_keys
    )
    return PlannedAccount(
        account_key=tenant.key,
        logical_name=logical_name,
        tag=namer.tag(logical_name),
        display_name=tenant.display_name,
        friendly_name=(
            tenant.display_name
            if namer.adopted(logical_name)
            else namer.friendly_name(f"{tenant.display_name} ({tenant.environment})", logical_name)
        ),
        environment=tenant.environment,
        role=architecture.role_of(tenant),
        protect=tenant.is_production,
        default_service_status_callback=settings.collector_url,
        api_keys=api_keys,
        services=tuple(
            _plan_service(settings, namer, tenant, service) for service in tenant.services
        ),
        adopt_sid=namer.adopted(logical_name),
    )


def _key_friendly_name(namer: _Namer, tenant: Tenant, key: ApiKey, logical_name: str) -> str:
    human = key.friendly_name or f"{tenant.display_name} {key.name}"
    if key.rotation == 0:
        return namer.friendly_name(human, logical_name)
    # A later generation is always a key we mint: tagged.
    return identity_tags.friendly_name(human, namer.tag(logical_name))


def _plan_service(
    settings: StackSettings, namer: _Namer, tenant: Tenant, service: MessagingService
) -> PlannedService:
    logical_name = identity.service_logical_name(tenant.key, service.use_case)
    human = service.friendly_name or f"{tenant.display_name} {service.use_case}"
    numbers = _plan_numbers(namer, tenant, service)
    senders = service.senders
    webhooks = service.webhooks
    from_collector = webhooks.status_callback == COLLECTOR
    return PlannedService(
        account_key=tenant.key,
        use_case=service.use_case,
        logical_name=logical_name,
        tag=namer.tag(logical_name),
        friendly_name=namer.friendly_name(human, logical_name),
        sticky_sender=service.sticky_sender,
        area_code_geomatch=service.area_code_geomatch,
        smart_encoding=service.smart_encoding,
        mms_converter=service.mms_converter,
        fallback_to_long_code=service.fallback_to_long_code,
        scan_message_content=service.scan_message_content,
        validity_period=service.validity_period,
        synchronous_validation=service.synchronous_validation,
        use_inbound_webhook_on_number=service.use_inbound_webhook_on_number,
        inbound_request_url=webhooks.inbound_request_url,
        inbound_method=webhooks.inbound_method,
        fallback_url=webhooks.fallback_url,
        fallback_method=webhooks.fallback_method,
        status_callback=settings.collector_url if from_collector else webhooks.status_callback,
        status_callback_is_collector=from_collector,
        adopt_sid=namer.adopted(logical_name),
        pool=PlannedSenderPool(
            account_key=tenant.key,
            use_case=service.use_case,
            logical_name=identity.sender_pool_logical_name(tenant.key, service.use_case),
            service_logical_name=logical_name,
            phone_numbers=tuple(number.logical_name for number in numbers),
            short_codes=senders.short_codes,
            alpha_senders=senders.alpha_senders,
        ),
        numbers=numbers,
    )


def _plan_numbers(
    namer: _Namer, tenant: Tenant, service: MessagingService
) -> tuple[PlannedNumber, ...]:
    spec: PhoneNumbers | None = service.senders.phone_numbers
    if spec is None:
        return ()
    if spec.is_search:
        search = NumberSearch(
            country=spec.country or "US",
            area_code=spec.area_code,
            contains=spec.contains,
            sms_enabled=spec.sms_enabled,
        )
        slots: list[tuple[str, str, str | None, NumberSearch | None]] = [
            (
                identity.phone_number_logical_name(tenant.key, service.use_case, position),
                f"#{position}",
                None,
                search,
            )
            for position in range(1, (spec.count or 0) + 1)
        ]
    else:
        slots = [
            (identity.exact_number_logical_name(tenant.key, number), number, number, None)
            for number in spec.numbers
        ]
    sms = spec.sms_webhooks
    planned = []
    for logical_name, label, phone_number, search_for in slots:
        planned.append(
            PlannedNumber(
                account_key=tenant.key,
                use_case=service.use_case,
                logical_name=logical_name,
                tag=namer.tag(logical_name),
                friendly_name=(
                    None
                    if namer.adopted(logical_name)
                    else namer.friendly_name(
                        f"{tenant.display_name} {service.use_case} {label}", logical_name
                    )
                ),
                phone_number=phone_number,
                search=search_for,
                sms_url=sms.sms_url,
                sms_method=sms.sms_method,
                sms_fallback_url=sms.sms_fallback_url,
                sms_fallback_method=sms.sms_fallback_method,
                release_on_delete=spec.release_on_delete,
                # A purchased number may be gone for good once released: protect in production.
                protect=tenant.is_production,
                adopt_sid=namer.adopted(logical_name),
                transfer_from=namer.transfer_source(phone_number),
            )
        )
    return tuple(planned)
