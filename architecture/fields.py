"""The values of the stack file: their types, the rule each field checks (a function named
after its rule), and what validation knows while it runs (which objects are adopted).

The models built from them are in architecture/tenant_parts.py and architecture/model.py.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    StringConstraints,
    ValidatorFunctionWrapHandler,
)

from architecture import urls
from architecture.rulebook import rule_error

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
_ADOPTABLE_SID = re.compile(r"(AC|SK|MG|PN)[0-9a-f]{32}")

# While the stack file is validated: the resource names its `adopt` map names, the tenant
# being validated, and whether the object being validated is adopted. An adopted object may
# keep a plain-http webhook Twilio already holds (the audit and the policy pack still report
# it); a created one may not.
ADOPTED_NAMES: ContextVar[frozenset[str]] = ContextVar("adopted_names", default=frozenset())
TENANT_KEY: ContextVar[str] = ContextVar("tenant_key", default="")
ADOPTED: ContextVar[bool] = ContextVar("adopted", default=False)


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
    if problem == urls.NOT_HTTPS and ADOPTED.get():
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


def validated_within(
    variable: ContextVar[Any], value: Any, handler: ValidatorFunctionWrapHandler, data: Any
) -> Any:
    """`handler(data)` with `variable` set to `value` for the objects validated inside."""
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
