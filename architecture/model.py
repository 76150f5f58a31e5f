"""The estate a stack file declares under `twilio-landing-zone:architecture`.

(Over 500 lines: one model per section of the stack file, each with its rules beside its
fields, so a rule and what it checks are read together; the adopt map's rules live in
architecture/adoption.py.)

Every model is frozen and refuses unknown fields (a typo is an error, not a silently ignored
setting). Field-level checks are functions named after their rule; rules that look at several
fields are `@rule` methods named after their rule (see rulebook.py), all reported together. The
policy pack enforces the same guardrails again on the resources the program registers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Iterator
from contextvars import ContextVar
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from architecture import adoption, identity, urls
from architecture.rulebook import RuleModel, Violation, rule, rule_error

Style = Literal["direct", "isv"]
Environment = Literal["development", "staging", "production"]
TenantRole = Literal["business_unit", "customer", "shared"]
UseCase = Literal["notifications", "marketing", "verification", "discussion", "poll", "undeclared"]
ApiKeyKind = Literal["standard", "restricted"]
HttpMethod = Literal["GET", "POST"]
ScanMessageContent = Literal["inherit", "enable", "disable"]

USE_CASES: Final = get_args(UseCase)
ENVIRONMENTS: Final = get_args(Environment)
PRODUCTION: Final = "production"
COLLECTOR: Final = "collector"
PARENT_ACCOUNT_KEY: Final = "parent"

MAX_SENDERS_PER_SERVICE: Final = 400  # Twilio's default pool limit (error 21714)
MAX_KEY_PERMISSIONS: Final = 100  # Twilio's limit for a restricted key
MAX_VALIDITY_PERIOD: Final = 36000  # seconds; Twilio's range is 1-36000

_SLUG = re.compile(r"[a-z][a-z0-9-]{0,23}")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_AREA_CODE = re.compile(r"[2-9][0-9]{2}")
_CONTAINS = re.compile(r"[0-9A-Za-z*]{2,16}")
_SHORT_CODE_SID = re.compile(r"SC[0-9a-f]{32}")
_ALPHA_SENDER = re.compile(r"[A-Za-z0-9 +\-_&]{1,11}")
_PERMISSION = re.compile(r"/twilio(/[a-z0-9][a-z0-9_-]*){2,}/(create|read|update|delete)")
_AREA_CODE_COUNTRIES = frozenset({"US", "CA"})  # Twilio's AreaCode filter is North America only
_ADOPTABLE_SID = re.compile(r"(AC|SK|MG|PN)[0-9a-f]{32}")

# While the stack file is validated: the resource names its `adopt` map names, the tenant
# being validated, and whether the object being validated is adopted. An adopted object may
# keep a plain-http webhook Twilio already holds (the audit and the policy pack still report
# it); a created one may not.
_ADOPTED_NAMES: ContextVar[frozenset[str]] = ContextVar("adopted_names", default=frozenset())
_TENANT_KEY: ContextVar[str] = ContextVar("tenant_key", default="")
_ADOPTED: ContextVar[bool] = ContextVar("adopted", default=False)


def lowercase_slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise rule_error(
            "lowercase_slug",
            f"{value!r} is not a lowercase slug: a letter, then up to 23 lowercase letters, "
            "digits or '-'",
        )
    return value


def parent_is_never_a_tenant(value: str) -> str:
    if value == PARENT_ACCOUNT_KEY:
        raise rule_error(
            "parent_is_never_a_tenant",
            "'parent' is reserved: the parent account is never modelled as a tenant (it never "
            "sends and holds no keys)",
        )
    return value


def e164_number(value: str) -> str:
    if not _E164.fullmatch(value):
        raise rule_error(
            "e164_number", f"{value!r} is not an E.164 phone number like '+14155550100'"
        )
    return value


def iso_country_code(value: str) -> str:
    if not _COUNTRY.fullmatch(value):
        raise rule_error(
            "iso_country_code", f"{value!r} is not a two-letter upper-case ISO country code"
        )
    return value


def north_american_area_code(value: str) -> str:
    if not _AREA_CODE.fullmatch(value):
        raise rule_error(
            "north_american_area_code", f"{value!r} is not a three-digit area code like '415'"
        )
    return value


def number_pattern(value: str) -> str:
    if not _CONTAINS.fullmatch(value):
        raise rule_error(
            "number_pattern",
            f"{value!r} is not a number pattern: 2-16 digits or letters, '*' for any digit",
        )
    return value


def short_code_sid(value: str) -> str:
    if not _SHORT_CODE_SID.fullmatch(value):
        raise rule_error(
            "short_code_sid", f"{value!r} is not a short code SID ('SC' and 32 hex characters)"
        )
    return value


def alpha_sender_id(value: str) -> str:
    if not _ALPHA_SENDER.fullmatch(value) or not any(char.isalpha() for char in value):
        raise rule_error(
            "alpha_sender_id",
            f"{value!r} is not an alphanumeric sender ID: 1-11 letters, digits, spaces or "
            "'-+_&', with at least one letter (not digits only)",
        )
    return value


def restricted_key_permission(value: str) -> str:
    if not _PERMISSION.fullmatch(value):
        raise rule_error(
            "restricted_key_permission",
            f"{value!r} is not a permission like '/twilio/messaging/messages/create' "
            "(ending in create, read, update or delete)",
        )
    return value


def https_or_loopback(value: str) -> str:
    # Loopback is decided where the environment is known (loopback_only_outside_production).
    problem = urls.problem(value, loopback_allowed=True)
    if problem == urls.NOT_HTTPS and _ADOPTED.get():
        return value  # kept as found on an adopted object (reported by the audit and the pack)
    if problem:
        raise rule_error("https_or_loopback", f"{value!r} {problem}")
    return value


def url_or_collector(value: str) -> str:
    return value if value == COLLECTOR else https_or_loopback(value)


def adoptable_sid(value: str) -> str:
    if not _ADOPTABLE_SID.fullmatch(value):
        raise rule_error(
            "adoptable_sid",
            f"{value!r} is not the SID of an account (AC), API key (SK), Messaging Service (MG) "
            "or phone number (PN): two letters and 32 hex characters",
        )
    return value


def _within(variable: ContextVar[Any], value: Any, handler: ValidatorFunctionWrapHandler, data):
    token = variable.set(value)
    try:
        return handler(data)
    finally:
        variable.reset(token)


def digits_as_text(value: Any) -> Any:
    """YAML reads `area_code: 415` as a number; an area code is text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Slug = Annotated[str, AfterValidator(lowercase_slug)]
TenantKey = Annotated[str, AfterValidator(lowercase_slug), AfterValidator(parent_is_never_a_tenant)]
HumanText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
E164Number = Annotated[str, AfterValidator(e164_number)]
CountryCode = Annotated[str, AfterValidator(iso_country_code)]
AreaCode = Annotated[str, BeforeValidator(digits_as_text), AfterValidator(north_american_area_code)]
NumberPattern = Annotated[str, BeforeValidator(digits_as_text), AfterValidator(number_pattern)]
ShortCodeSid = Annotated[str, AfterValidator(short_code_sid)]
AlphaSender = Annotated[str, AfterValidator(alpha_sender_id)]
Permission = Annotated[str, AfterValidator(restricted_key_permission)]
WebhookUrl = Annotated[str, AfterValidator(https_or_loopback)]
StatusCallback = Annotated[str, AfterValidator(url_or_collector)]
AdoptableSid = Annotated[str, AfterValidator(adoptable_sid)]
TransferSource = Annotated[
    str, StringConstraints(pattern=r"^(parent|[a-z][a-z0-9-]{0,23}|AC[0-9a-f]{32})$")
]
ResourceName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


def _repeats(values: tuple[Hashable, ...]) -> Iterator[tuple[int, Any, int]]:
    """(index, value, index of first occurrence) for each value seen before."""
    first_seen: dict[Hashable, int] = {}
    for index, value in enumerate(values):
        if value in first_seen:
            yield index, value, first_seen[value]
        else:
            first_seen[value] = index


class ApiKey(RuleModel):
    """An API key minted inside the tenant's subaccount for one application."""

    name: Slug
    kind: ApiKeyKind
    permissions: tuple[Permission, ...] = ()
    # A key's secret is shown only when it is minted, so rotating means minting a new key:
    # bump this number to get a new generation of the key.
    rotation: Annotated[int, Field(ge=0)] = 0
    # The name Twilio shows; default "<display name> <name>" (an adopted key keeps its own).
    friendly_name: HumanText | None = None

    @rule
    def restricted_key_has_permissions(self) -> Iterator[Violation]:
        if self.kind == "restricted" and not self.permissions:
            yield Violation(("permissions",), "a restricted key needs at least one permission", [])
        if self.kind == "restricted" and len(self.permissions) > MAX_KEY_PERMISSIONS:
            yield Violation(
                ("permissions",),
                f"has {len(self.permissions)} permissions; a restricted key allows at most "
                f"{MAX_KEY_PERMISSIONS}",
                len(self.permissions),
            )

    @rule
    def standard_key_has_no_permissions(self) -> Iterator[Violation]:
        if self.kind == "standard" and self.permissions:
            yield Violation(
                ("permissions",),
                "a standard key cannot be limited by permissions; use kind: restricted",
                list(self.permissions),
            )

    @rule
    def permissions_listed_once(self) -> Iterator[Violation]:
        for index, value, first in _repeats(self.permissions):
            yield Violation(
                ("permissions", index),
                f"{value!r} is already listed at permissions[{first}]",
                value,
            )


class ServiceWebhooks(RuleModel):
    """The service-level webhooks (Twilio parameter names, snake_case)."""

    inbound_request_url: WebhookUrl | None = None
    inbound_method: HttpMethod = "POST"
    fallback_url: WebhookUrl | None = None
    fallback_method: HttpMethod = "POST"
    # A URL, or `collector`: the stack's twilio-landing-zone:collectorUrl.
    status_callback: StatusCallback | None = None


class NumberSmsWebhooks(RuleModel):
    """A phone number's own SMS webhooks; they win when use_inbound_webhook_on_number is set."""

    sms_url: WebhookUrl | None = None
    sms_method: HttpMethod = "POST"
    sms_fallback_url: WebhookUrl | None = None
    sms_fallback_method: HttpMethod = "POST"


class PhoneNumbers(RuleModel):
    """Either an exact list of E.164 numbers or a search Twilio fills (count + filters)."""

    numbers: tuple[E164Number, ...] = ()
    count: Annotated[int, Field(ge=1, le=MAX_SENDERS_PER_SERVICE)] | None = None
    country: CountryCode | None = None
    area_code: AreaCode | None = None
    contains: NumberPattern | None = None
    sms_enabled: bool = True
    sms_webhooks: NumberSmsWebhooks = NumberSmsWebhooks()
    # Numbers outlive the stack unless explicitly allowed: a released number may be gone forever.
    release_on_delete: bool = False

    @model_validator(mode="wrap")
    @classmethod
    def adopted_numbers_keep_their_webhooks(
        cls, data: Any, handler: ValidatorFunctionWrapHandler
    ) -> Any:
        numbers = data.get("numbers") if isinstance(data, dict) else None
        names = {
            identity.exact_number_logical_name(_TENANT_KEY.get(), str(number))
            for number in (numbers if isinstance(numbers, list | tuple) else ())
        }
        adopted = bool(names) and names <= _ADOPTED_NAMES.get()
        return _within(_ADOPTED, adopted, handler, data)

    @property
    def is_search(self) -> bool:
        return self.count is not None

    @property
    def size(self) -> int:
        return self.count if self.count is not None else len(self.numbers)

    @rule
    def exact_list_or_search(self) -> Iterator[Violation]:
        if self.numbers and self.count is not None:
            yield Violation(
                ("count",),
                "give either numbers (an exact list) or count (a search), not both",
                self.count,
            )
        elif not self.numbers and self.count is None:
            yield Violation(
                (), "give either numbers (an exact E.164 list) or count (a search)", None
            )
        if self.numbers:
            for field in ("country", "area_code", "contains"):
                if getattr(self, field) is not None:
                    yield Violation(
                        (field,),
                        f"{field} is a search filter; it needs count, not an exact numbers list",
                        getattr(self, field),
                    )

    @rule
    def area_code_only_in_north_america(self) -> Iterator[Violation]:
        country = self.country or "US"
        if self.area_code is not None and country not in _AREA_CODE_COUNTRIES:
            yield Violation(
                ("area_code",),
                f"area_code searches exist only for US and CA numbers, not {country}",
                self.area_code,
            )

    @rule
    def numbers_listed_once(self) -> Iterator[Violation]:
        for index, value, first in _repeats(self.numbers):
            yield Violation(
                ("numbers", index), f"{value!r} is already listed at numbers[{first}]", value
            )


class Senders(RuleModel):
    """The service's sender pool."""

    phone_numbers: PhoneNumbers | None = None
    short_codes: tuple[ShortCodeSid, ...] = ()
    alpha_senders: tuple[AlphaSender, ...] = ()

    @property
    def count(self) -> int:
        numbers = self.phone_numbers.size if self.phone_numbers else 0
        return numbers + len(self.short_codes) + len(self.alpha_senders)

    @rule
    def at_most_400_senders(self) -> Iterator[Violation]:
        if self.count > MAX_SENDERS_PER_SERVICE:
            yield Violation(
                (),
                f"{self.count} senders; a messaging service holds at most "
                f"{MAX_SENDERS_PER_SERVICE}",
                self.count,
            )

    @rule
    def senders_listed_once(self) -> Iterator[Violation]:
        for field in ("short_codes", "alpha_senders"):
            for index, value, first in _repeats(getattr(self, field)):
                yield Violation(
                    (field, index), f"{value!r} is already listed at {field}[{first}]", value
                )


class MessagingService(RuleModel):
    """One Messaging Service: every setting Twilio's API takes, with explicit defaults so the
    plan is complete and a refresh can compare every field."""

    use_case: UseCase
    friendly_name: HumanText | None = None
    sticky_sender: bool = True
    area_code_geomatch: bool = True
    smart_encoding: bool = True
    mms_converter: bool = True
    fallback_to_long_code: bool = False  # obsolete in Twilio; off unless asked for
    scan_message_content: ScanMessageContent = "inherit"
    validity_period: Annotated[int, Field(ge=1, le=MAX_VALIDITY_PERIOD)] = MAX_VALIDITY_PERIOD
    synchronous_validation: bool = False
    use_inbound_webhook_on_number: bool = False
    webhooks: ServiceWebhooks = ServiceWebhooks()
    senders: Senders = Senders()

    @model_validator(mode="wrap")
    @classmethod
    def adopted_service_keeps_its_webhooks(
        cls, data: Any, handler: ValidatorFunctionWrapHandler
    ) -> Any:
        use_case = data.get("use_case") if isinstance(data, dict) else None
        name = identity.service_logical_name(_TENANT_KEY.get(), str(use_case))
        return _within(_ADOPTED, name in _ADOPTED_NAMES.get(), handler, data)

    def webhook_urls(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """(location, URL) of every explicit URL of the service and its numbers."""
        for field in ("inbound_request_url", "fallback_url", "status_callback"):
            url = getattr(self.webhooks, field)
            if url is not None and url != COLLECTOR:
                yield ("webhooks", field), url
        if self.senders.phone_numbers is not None:
            sms = self.senders.phone_numbers.sms_webhooks
            for field in ("sms_url", "sms_fallback_url"):
                url = getattr(sms, field)
                if url is not None:
                    yield ("senders", "phone_numbers", "sms_webhooks", field), url


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
        return _within(_TENANT_KEY, str(key), handler, data)

    @property
    def is_production(self) -> bool:
        return self.environment == PRODUCTION

    @rule
    def one_service_per_use_case(self) -> Iterator[Violation]:
        for index, use_case, first in _repeats(tuple(s.use_case for s in self.services)):
            yield Violation(
                ("services", index, "use_case"),
                f"{use_case!r} is already the use case of services[{first}]; at most one "
                "messaging service per use case per tenant",
                use_case,
            )

    @rule
    def api_key_names_unique(self) -> Iterator[Violation]:
        for index, name, first in _repeats(tuple(k.name for k in self.api_keys)):
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
        return _within(_ADOPTED_NAMES, names, handler, data)

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
        for index, environment, first in _repeats(self.environments):
            yield Violation(
                ("environments", index),
                f"{environment!r} is already listed at environments[{first}]",
                environment,
            )

    @rule
    def unique_tenant_keys(self) -> Iterator[Violation]:
        for index, key, first in _repeats(tuple(t.key for t in self.tenants)):
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
