"""Twilio's wire format: SIDs, dates, form parameters, errors and the two pagination envelopes."""

from __future__ import annotations

import ipaddress
import json
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.responses import Response

# --- SIDs -------------------------------------------------------------------------------------

_SID_BODY = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def new_sid(prefix: str) -> str:
    """Two upper-case letters plus 32 lower-case hex characters, like Twilio's."""
    return prefix + uuid.uuid4().hex


def is_sid(value: str | None, *prefixes: str) -> bool:
    return value is not None and _SID_BODY.match(value) is not None and value[:2] in prefixes


def new_secret() -> str:
    return uuid.uuid4().hex


# --- Dates ------------------------------------------------------------------------------------
# v2010 and IAM v1 use RFC 2822 with "+0000"; messaging v1 uses ISO 8601 without fractions
# (twilio-python's ISO parser gives up on fractional seconds and hands back the raw string).

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def now() -> int:
    return int(time.time())


def rfc2822(ts: int | None) -> str | None:
    if ts is None:
        return None
    t = time.gmtime(ts)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def iso8601(ts: int | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# --- Errors -----------------------------------------------------------------------------------


class TwilioError(Exception):
    """An answer in Twilio's legacy error shape: {code, message, more_info, status}."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(code: int, message: str) -> TwilioError:
    return TwilioError(400, code, message)


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    merged = {"Twilio-Request-Id": new_sid("RQ")}
    if headers:
        merged.update(headers)
    if body is None:
        return Response(status_code=status, headers=merged)
    content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status_code=status, media_type="application/json", headers=merged)


def error_response(error: TwilioError) -> Response:
    return json_response(
        error.status, error_body(error.status, error.code, error.message), error.headers
    )


# --- Form and query parameters ----------------------------------------------------------------

_MAX_FIELDS = 1000
FRIENDLY_NAME_MAX = 64
_MAX_URL_LENGTH = 4000
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]+$")


def parse_form(body: bytes) -> Params:
    """Form-encoded PascalCase parameters; repeated keys make lists (MediaUrl)."""
    if not body:
        return Params([])
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(20001, "The request body is not a valid form-encoded UTF-8 body") from exc
    return Params(pairs)


class Params:
    """Typed access to request parameters; each getter answers Twilio's 400 on bad input."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in pairs:
            self._values.setdefault(key, []).append(value)

    def has(self, name: str) -> bool:
        return name in self._values

    def items(self) -> list[tuple[str, str]]:
        return [(key, value) for key, values in self._values.items() for value in values]

    def values(self, name: str) -> list[str]:
        return list(self._values.get(name, []))

    def text(self, name: str, *, max_length: int | None = None, code: int = 20001) -> str | None:
        values = self._values.get(name)
        if not values:
            return None
        value = values[-1]
        if max_length is not None and len(value) > max_length:
            raise bad_request(code, f"{name} must be at most {max_length} characters long")
        return value

    def friendly_name(self) -> str | None:
        """Twilio caps every FriendlyName at 64 characters (20002 beyond)."""
        return self.text("FriendlyName", max_length=FRIENDLY_NAME_MAX, code=20002)

    def required_text(self, name: str, *, code: int = 20001, message: str | None = None) -> str:
        value = self.text(name)
        if value is None or value == "":
            raise bad_request(
                code, message or f"Missing required parameter {name} in the post body"
            )
        return value

    def boolean(self, name: str, *, code: int = 20001) -> bool | None:
        value = self.text(name)
        if value is None:
            return None
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise bad_request(code, f"Invalid value for {name}: expected true or false")

    def integer(
        self, name: str, *, low: int, high: int, code: int = 20001, message: str | None = None
    ) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        stripped = value.strip()
        if not re.fullmatch(r"[+-]?\d{1,12}", stripped) or not low <= int(stripped) <= high:
            raise bad_request(code, message or f"{name} must be an integer from {low} to {high}")
        return int(stripped)

    def choice(
        self, name: str, choices: Sequence[str], *, code: int = 20001, fold_case: bool = False
    ) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        for choice in choices:
            if value == choice or (fold_case and value.lower() == choice.lower()):
                return choice
        raise bad_request(code, f"{name} must be one of {', '.join(choices)}")

    def http_method(self, name: str, *, code: int = 20001) -> str | None:
        return self.choice(name, ("GET", "POST"), code=code, fold_case=True)

    def url(self, name: str, *, code: int = 21502) -> str | None:
        """A webhook URL; "" clears the field, so it comes back as ""."""
        value = self.text(name)
        if value is None or value == "":
            return value
        if not is_valid_url(value):
            raise bad_request(code, f"The {name} URL {value[:200]} is not a valid URL")
        return value

    def sid(self, name: str, *prefixes: str, code: int = 20001) -> str | None:
        value = self.text(name)
        if value is None or value == "":
            return value
        if not is_sid(value, *prefixes):
            raise bad_request(code, f"{name} {value[:64]} is not a valid SID")
        return value


def is_valid_url(value: str) -> bool:
    if len(value) > _MAX_URL_LENGTH or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if ":" in host:  # an IPv6 literal, e.g. http://[::1]:8080/status
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    # Twilio refuses underscores in callback hostnames; the pattern excludes them.
    return _HOSTNAME.match(host) is not None


# --- Pagination -------------------------------------------------------------------------------

_PAGE_PARAMS = ("PageSize", "Page", "PageToken")
_MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class PageRequest:
    page: int
    page_size: int
    after_seq: int | None  # keyset position from PageToken, else offset paging
    token: str | None

    @property
    def offset(self) -> int:
        return self.page * self.page_size


def page_request(params: Params) -> PageRequest:
    page_size = params.integer("PageSize", low=1, high=1000) or 50
    page = params.integer("Page", low=0, high=_MAX_PAGE) or 0
    token = params.text("PageToken")
    after_seq = None
    if token:
        match = re.fullmatch(r"PA(\d{1,15})", token)
        if not match:
            raise bad_request(20001, f"Invalid PageToken {token[:64]}")
        after_seq = int(match.group(1))
    return PageRequest(page=page, page_size=page_size, after_seq=after_seq, token=token or None)


def page_token(seq: int) -> str:
    return f"PA{seq}"


def _query(filters: Sequence[tuple[str, str]], extra: Sequence[tuple[str, str | int]]) -> str:
    kept = [(k, v) for k, v in filters if k not in _PAGE_PARAMS]
    return urlencode([*kept, *extra])


@dataclass(frozen=True)
class PageLinks:
    """The four page addresses, as query strings to append to the list address."""

    first: str
    current: str
    next: str | None
    previous: str | None


def page_links(
    filters: Sequence[tuple[str, str]], request: PageRequest, next_seq: int | None
) -> PageLinks:
    size = request.page_size
    current_extra: list[tuple[str, str | int]] = [("PageSize", size), ("Page", request.page)]
    if request.token:
        current_extra.append(("PageToken", request.token))
    next_query = None
    if next_seq is not None:
        next_query = _query(
            filters,
            [("PageSize", size), ("Page", request.page + 1), ("PageToken", page_token(next_seq))],
        )
    previous_query = None
    if request.page > 0:
        previous_query = _query(filters, [("PageSize", size), ("Page", request.page - 1)])
    return PageLinks(
        first=_query(filters, [("PageSize", size), ("Page", 0)]),
        current=_query(filters, current_extra),
        next=next_query,
        previous=previous_query,
    )


def v2010_page(
    key: str,
    items: list[dict[str, Any]],
    request: PageRequest,
    path: str,
    filters: Sequence[tuple[str, str]],
    next_seq: int | None,
) -> dict[str, Any]:
    """v2010 envelope: relative URIs, exactly one records array, nothing else at the top level."""
    links = page_links(filters, request, next_seq)
    start = request.offset
    return {
        "first_page_uri": f"{path}?{links.first}",
        "end": start + len(items) - 1 if items else start,
        "previous_page_uri": f"{path}?{links.previous}" if links.previous else None,
        key: items,
        "uri": f"{path}?{links.current}",
        "page_size": request.page_size,
        "start": start,
        "next_page_uri": f"{path}?{links.next}" if links.next else None,
        "page": request.page,
    }


def v1_page(
    key: str,
    items: list[dict[str, Any]],
    request: PageRequest,
    url: str,
    filters: Sequence[tuple[str, str]],
    next_seq: int | None,
) -> dict[str, Any]:
    """v1 envelope: the records plus `meta`, whose URLs are absolute on the emulator's host."""
    links = page_links(filters, request, next_seq)
    return {
        key: items,
        "meta": {
            "page": request.page,
            "page_size": request.page_size,
            "first_page_url": f"{url}?{links.first}",
            "previous_page_url": f"{url}?{links.previous}" if links.previous else None,
            "url": f"{url}?{links.current}",
            "next_page_url": f"{url}?{links.next}" if links.next else None,
            "key": key,
        },
    }
