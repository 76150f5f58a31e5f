"""What a tenant declares inside its subaccount: API keys, and Messaging Services with their
webhooks and sender pools (numbers, short codes, alpha senders). Each model carries the rules
of its own fields; rules across tenants live in architecture/model.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import Field, ValidatorFunctionWrapHandler, model_validator

from architecture import identity
from architecture.fields import (
    ADOPTED,
    ADOPTED_NAMES,
    COLLECTOR,
    MAX_KEY_PERMISSIONS,
    MAX_SENDERS_PER_SERVICE,
    MAX_VALIDITY_PERIOD,
    TENANT_KEY,
    AlphaSender,
    ApiKeyKind,
    AreaCode,
    CountryCode,
    E164Number,
    HttpMethod,
    HumanText,
    NumberPattern,
    Permission,
    ScanMessageContent,
    ShortCodeSid,
    Slug,
    StatusCallback,
    UseCase,
    WebhookUrl,
    validated_within,
)
from architecture.rulebook import RuleModel, Violation, repeats, rule

_AREA_CODE_COUNTRIES = frozenset({"US", "CA"})  # Twilio's AreaCode filter is North America only


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
        for index, value, first in repeats(self.permissions):
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
            identity.exact_number_logical_name(TENANT_KEY.get(), str(number))
            for number in (numbers if isinstance(numbers, list | tuple) else ())
        }
        adopted = bool(names) and names <= ADOPTED_NAMES.get()
        return validated_within(ADOPTED, adopted, handler, data)

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
        for index, value, first in repeats(self.numbers):
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
            for index, value, first in repeats(getattr(self, field)):
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
        name = identity.service_logical_name(TENANT_KEY.get(), str(use_case))
        return validated_within(ADOPTED, name in ADOPTED_NAMES.get(), handler, data)

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
