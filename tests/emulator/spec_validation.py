"""Validate emulator responses against Twilio's official OpenAPI specs, made strict.

The specs declare no `required` properties, so every declared property is treated as required
(null allowed only where the spec says `nullable`) and undeclared properties are refused, all
the way down (pagination `meta`, `capabilities`...). Declared formats are checked, which checks
each API's date format: `date-time-rfc-2822` (v2010, IAM v1) and `date-time` (messaging v1,
where it must be exactly YYYY-MM-DDTHH:MM:SSZ). Error answers must be Twilio's four-field body.

The specs are the official ones Twilio publishes in the npm package `@twilio-alpha/mcp` 0.7.0,
pinned by integrity and put in `<repo>/.bin/twilio-oai/` by `make setup`
(scripts/fetch-twilio-specs); a missing spec is an error, never a skip.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT / ".bin" / "twilio-oai"
SPEC_FILES = {
    "api": "twilio_api_v2010.json",
    "messaging": "twilio_messaging_v1.json",
    "iam": "twilio_iam_v1.json",
    "trusthub": "twilio_trusthub_v1.json",
}

# The one place where the emulator's answers may depart from the strict reading of the spec,
# each with its reason: (domain, schema component, property) -> why that property's declared
# format is not enforced. Everything else is checked as declared.
_NATIONAL_FORM = (
    "format phone-number: Twilio answers the national form '(415) 555-0100' here, as the "
    "spec's own examples do"
)
ALLOW_LIST: dict[tuple[str, str, str], str] = {
    (
        "api",
        "api.v2010.account.available_phone_number_country.available_phone_number_local",
        "friendly_name",
    ): _NATIONAL_FORM,
    (
        "api",
        "api.v2010.account.available_phone_number_country.available_phone_number_toll_free",
        "friendly_name",
    ): _NATIONAL_FORM,
    ("api", "api.v2010.account.message", "from"): (
        "format phone-number: a message may come from a short code or an alphanumeric sender ID"
    ),
}

# Fields real Twilio returns that the pinned spec snapshot (@twilio-alpha/mcp 0.7.0) predates:
# (domain, schema component, property) -> (the property's schema, why it is there). They are
# declared optional here, with the type Twilio's newer spec gives them; the emulator keeps
# returning them, since a real field is never stripped to fit an older spec.
NEWER_THAN_PINNED: dict[tuple[str, str, str], tuple[dict[str, Any], str]] = {
    ("api", "api.v2010.account.incoming_phone_number", "type"): (
        {"type": ["string", "null"]},
        "Twilio answers the number's type (local, mobile, tollFree) on the generic "
        "IncomingPhoneNumbers resource; the pinned spec predates the field",
    ),
    ("iam", "iam.v1.get_keys", "flags"): (
        {"type": "array", "items": {"type": "string"}},
        "IAM v1 lists a key's flags (restricted keys); the pinned spec predates the field",
    ),
}

# Envelope fields the pinned snapshot declares that real Twilio does not send (Twilio's newer
# spec dropped them): (domain, method, path template) -> (fields, why). They are removed from
# that operation's schema, so an answer that carried them would be refused.
NOT_SENT_BY_TWILIO: dict[tuple[str, str, str], tuple[tuple[str, ...], str]] = {
    ("api", "GET", "/2010-04-01/Accounts/{AccountSid}/AvailablePhoneNumbers.json"): (
        (
            "end",
            "first_page_uri",
            "next_page_uri",
            "page",
            "page_size",
            "previous_page_uri",
            "start",
        ),
        "the country list is one unpaged document (countries and uri); the pinned spec gives "
        "it the paging envelope, Twilio's newer spec does not",
    ),
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer"},
    },
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
}

_RFC2822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" \d{4} \d{2}:\d{2}:\d{2} \+0000$"
)
_ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_URI = re.compile(r"^(https?://[^\s/]+(/[^\s]*)?|/[^\s]*)$")

FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time-rfc-2822")(lambda v: not isinstance(v, str) or bool(_RFC2822.match(v)))
FORMATS.checks("date-time")(lambda v: not isinstance(v, str) or bool(_ISO8601.match(v)))
FORMATS.checks("date")(lambda v: not isinstance(v, str) or bool(_DATE.match(v)))
# v2010 `uri` values are relative ("/2010-04-01/..."), v1 `url` values absolute: both are
# URI references; anything else (spaces, no leading slash, other schemes) is refused.
FORMATS.checks("uri")(lambda v: not isinstance(v, str) or bool(_URI.match(v)))
FORMATS.checks("iso-country-code")(
    lambda v: not isinstance(v, str) or bool(re.fullmatch(r"[A-Z]{2}", v))
)
FORMATS.checks("currency")(
    lambda v: not isinstance(v, str) or bool(re.fullmatch(r"[A-Za-z]{3}", v))
)
FORMATS.checks("http-method")(lambda v: not isinstance(v, str) or v in ("GET", "POST"))
FORMATS.checks("phone-number")(
    lambda v: not isinstance(v, str) or bool(re.fullmatch(r"\+[1-9]\d{1,14}", v))
)

_OPENAPI_ONLY = {
    "nullable",
    "description",
    "example",
    "examples",
    "deprecated",
    "readOnly",
    "default",
}


class SpecMissingError(AssertionError):
    pass


@cache
def load_spec(domain: str) -> dict[str, Any]:
    return load_spec_from(SPEC_DIR, domain)


def load_spec_from(directory: Path, domain: str) -> dict[str, Any]:
    path = directory / SPEC_FILES[domain]
    if not path.is_file():
        raise SpecMissingError(
            f"Twilio OpenAPI spec not found at {path}: run 'make setup' "
            f"(scripts/fetch-twilio-specs puts the pinned specs there)"
        )
    return json.loads(path.read_text())


def strict(schema: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema 2020-12 where every declared property is required."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": "#/$defs/" + schema["$ref"].rsplit("/", 1)[-1]}
    out = {
        k: strict(v)
        for k, v in schema.items()
        if k not in _OPENAPI_ONLY and not k.startswith("x-") and k != "properties"
    }
    if schema.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in schema:
        # Property names are data here ("description" is a Usage Record field), not keywords.
        out["properties"] = {name: strict(s) for name, s in schema["properties"].items()}
        out["required"] = list(schema["properties"])
        out["additionalProperties"] = False
    return out


@dataclass(frozen=True)
class SpecOperation:
    domain: str
    method: str
    template: str
    responses: dict[str, Any]


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    pattern = re.sub(r"\\\{[^}]+\\\}", r"[^/]+", pattern)
    return re.compile(f"^{pattern}$")


@cache
def _templates(domain: str) -> list[tuple[str, re.Pattern[str]]]:
    spec = load_spec(domain)
    # Literal segments win over parameters (IncomingPhoneNumbers/Local.json vs /{Sid}.json).
    ordered = sorted(spec["paths"], key=lambda p: (p.count("{"), -len(p)))
    return [(template, _template_regex(template)) for template in ordered]


def find_operation(domain: str, method: str, path: str) -> SpecOperation | None:
    spec = load_spec(domain)
    for template, regex in _templates(domain):
        if regex.match(path):
            operation = spec["paths"][template].get(method.lower())
            if operation is None:
                continue
            return SpecOperation(domain, method.upper(), template, operation["responses"])
    return None


def _component(domain: str, name: str, schema: dict[str, Any]) -> Any:
    converted = strict(schema)
    for (allowed_domain, component, prop), _reason in ALLOW_LIST.items():
        if (allowed_domain, component) == (domain, name):
            converted["properties"][prop].pop("format", None)
    for (allowed_domain, component, prop), (schema_of_field, _why) in NEWER_THAN_PINNED.items():
        if (allowed_domain, component) == (domain, name):
            converted["properties"][prop] = schema_of_field
    return converted


@cache
def _validator(domain: str, schema_json: str) -> Draft202012Validator:
    spec = load_spec(domain)
    defs = {name: _component(domain, name, s) for name, s in spec["components"]["schemas"].items()}
    schema = {**strict(json.loads(schema_json)), "$defs": defs}
    return Draft202012Validator(schema, format_checker=FORMATS)


def response_schema(operation: SpecOperation, status: int) -> dict[str, Any] | None:
    response = operation.responses.get(str(status))
    if response is None:
        return None
    content = response.get("content", {}).get("application/json")
    return None if content is None else copy.deepcopy(content["schema"])


def validate_response(method: str, url_path: str, status: int, body: str) -> list[str]:
    """Problems with one emulator answer (empty when it conforms). `url_path` has /<domain>."""
    domain, _, rest = url_path.lstrip("/").partition("/")
    if domain not in SPEC_FILES:
        return [f"{method} {url_path}: not a Twilio domain route"]
    path = "/" + rest
    operation = find_operation(domain, method, path)
    if status >= 400:
        return _validate_error(method, url_path, status, body)
    if operation is None:
        return [f"{method} {url_path}: {status} for an operation the spec does not declare"]
    if status == 204:
        return [] if body == "" else [f"{method} {url_path}: 204 with a body"]
    schema = response_schema(operation, status)
    if schema is None:
        return [f"{method} {url_path}: status {status} not declared for {operation.template}"]
    key = (domain, operation.method, operation.template)
    not_sent, _why = NOT_SENT_BY_TWILIO.get(key, ((), ""))
    for field in not_sent:
        schema.get("properties", {}).pop(field, None)
    try:
        payload = json.loads(body)
    except ValueError:
        return [f"{method} {url_path}: body is not JSON: {body[:200]!r}"]
    validator = _validator(domain, json.dumps(schema, sort_keys=True))
    return [
        f"{method} {url_path} [{status}] at /{'/'.join(map(str, error.absolute_path))}:"
        f" {error.message}"
        for error in sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    ]


def _validate_error(method: str, url_path: str, status: int, body: str) -> list[str]:
    try:
        payload = json.loads(body)
    except ValueError:
        return [f"{method} {url_path}: {status} error body is not JSON: {body[:200]!r}"]
    problems = [
        f"{method} {url_path} [{status}] error body: {error.message}"
        for error in Draft202012Validator(ERROR_SCHEMA).iter_errors(payload)
    ]
    if isinstance(payload, dict) and payload.get("status") != status:
        problems.append(
            f"{method} {url_path}: error body status {payload.get('status')} != {status}"
        )
    return problems
