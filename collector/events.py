"""One status callback as the collector stores it, parsed from the form body Twilio posted."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from collector.statuses import status_rank

ACCOUNT_SID_PATTERN = re.compile(r"^AC[0-9a-f]{32}$")
# SM (SMS) and MM (MMS); channels use other two-letter prefixes, so any is accepted.
MESSAGE_SID_PATTERN = re.compile(r"^[A-Z]{2}[0-9a-f]{32}$")
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 256
MAX_STATUS_LENGTH = 64


class MalformedCallback(ValueError):
    """The request is not a status callback this collector can store (answered 400)."""


class FormParams:
    """Form parameters in the order received, with repeated names kept.

    Quacks like the multidicts `RequestValidator` knows (`getlist`), so a repeated parameter is
    signed the way Twilio signs it.
    """

    __slots__ = ("_repeats", "_sorted", "body", "first", "pairs")

    def __init__(self, pairs: list[tuple[str, str]], body: str | None = None) -> None:
        self.pairs = pairs
        self._sorted: list[tuple[str, str]] | None = None
        # The form as received (ASCII: percent-encoded); rebuilt when parsed from elsewhere.
        self.body = body if body is not None else urlencode(pairs)
        # Each name's first value, read by the receiver with plain dict lookups (this runs for
        # every callback). Twilio repeats no name, so the lists of values are built only when
        # a name does repeat.
        first = dict(pairs)
        self._repeats: dict[str, list[str]] | None = None
        if len(first) != len(pairs):
            repeats: dict[str, list[str]] = {}
            for name, value in pairs:
                repeats.setdefault(name, []).append(value)
            first = {name: values[0] for name, values in repeats.items()}
            self._repeats = repeats
        self.first: dict[str, str] = first

    def __iter__(self):
        return iter(self.first)

    def __len__(self) -> int:
        return len(self.first)

    def __contains__(self, name: object) -> bool:
        return name in self.first

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.first.get(name, default)

    def getlist(self, name: str) -> list[str]:
        if self._repeats is not None:
            return self._repeats[name]
        return [self.first[name]]

    def sorted_pairs(self) -> list[tuple[str, str]]:
        """The pairs sorted by name, then value (repeats kept): sorted once per callback for
        both the event's identity and its signature."""
        if self._sorted is None:
            self._sorted = sorted(self.pairs)
        return self._sorted

    def signed_pairs(self) -> list[tuple[str, str]]:
        """The pairs in the order Twilio signs them: names sorted, each name's distinct values
        sorted (a repeated name=value pair counts once)."""
        ordered = self.sorted_pairs()
        if self._repeats is None:  # no repeated name: no repeated pair
            return ordered
        return list(dict.fromkeys(ordered))

    # RequestValidator tries `getall` first (Flask's name); without it, it pays an exception
    # per parameter before finding `getlist`.
    getall = getlist

    def as_archive(self) -> dict[str, str | list[str]]:
        """Every parameter as received: one value as a string, a repeated name as a list."""
        if self._repeats is None:
            return dict(self.first)
        return {
            name: vals[0] if len(vals) == 1 else list(vals) for name, vals in self._repeats.items()
        }


# Every two-character hex escape, in any case mix: "2b", "2B" -> 43.
_HEX_BYTES = {
    f"{high}{low}": int(f"{high}{low}", 16)
    for high in "0123456789abcdefABCDEF"
    for low in "0123456789abcdefABCDEF"
}


def _unescape(text: str) -> str:
    """`unquote_plus` for form fields, strict: a `%` not followed by two hex digits, or bytes
    that are not UTF-8, raise instead of passing through."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    if text.startswith("%2B") and text.find("%", 3) < 0:
        return "+" + text[3:]  # an E.164 number (`From`, `To`): the escape callbacks carry most
    pieces = text.split("%")
    raw = bytearray(pieces[0].encode("ascii"))
    for piece in pieces[1:]:
        raw.append(_HEX_BYTES[piece[:2]])
        raw += piece[2:].encode("ascii")
    return raw.decode("utf-8")


def parse_form(body: bytes) -> FormParams:
    """The fields of an `application/x-www-form-urlencoded` body, strictly: an empty or
    nameless field, or percent-escapes that are not UTF-8, make it malformed.

    The same result as `urllib.parse.parse_qsl(..., keep_blank_values=True,
    strict_parsing=True)` for well-formed bodies, at a third of the cost (this runs once per
    callback); malformed escapes are refused rather than kept as text.
    """
    if len(body) > MAX_BODY_BYTES:
        raise MalformedCallback(f"body larger than {MAX_BODY_BYTES} bytes")
    if not body:
        return FormParams([], "")
    try:
        text = body.decode("ascii")
        fields = text.split("&")
        if len(fields) > MAX_FIELDS:
            raise ValueError(f"more than {MAX_FIELDS} fields")
        pairs = []
        for field in fields:
            name, separator, value = field.partition("=")
            if not separator:
                raise ValueError(f"bad field {field[:40]!r}")
            if "%" in field or "+" in field:
                name, value = _unescape(name), _unescape(value)
            pairs.append((name, value))
    except (UnicodeDecodeError, ValueError, KeyError) as error:
        raise MalformedCallback(f"body is not a form-encoded status callback: {error}") from None
    return FormParams(pairs, text)


_ACCOUNT_FIELD = b"AccountSid="
_PLAIN_ACCOUNT_SID = re.compile(rb"AC[0-9a-f]{32}")


def plain_account_sid(body: bytes) -> str | None:
    """The `AccountSid` that `account_sid_of(parse_form(body))` would return, read straight
    from the body when that is certain (the first field of that name, nothing escaped before
    it, a well-formed SID as its value); None means: parse the form to know. A body the
    parser would refuse may still yield its SID here: it is refused either way."""
    at = body.find(_ACCOUNT_FIELD)
    while at > 0 and body[at - 1] != 0x26:  # not at a field's start ("&")
        at = body.find(_ACCOUNT_FIELD, at + 1)
    if at < 0 or b"%" in body[:at]:
        return None  # absent, or an escaped name before it might spell AccountSid too
    start = at + len(_ACCOUNT_FIELD)
    end = body.find(b"&", start)
    value = body[start:] if end < 0 else body[start:end]
    if not _PLAIN_ACCOUNT_SID.fullmatch(value):
        return None
    return value.decode("ascii")


def account_sid_of(params: FormParams) -> str:
    account_sid = params.get("AccountSid")
    if not account_sid:
        raise MalformedCallback("AccountSid is missing")
    if not ACCOUNT_SID_PATTERN.match(account_sid):
        raise MalformedCallback("AccountSid is not an account SID")
    return account_sid


@dataclass(frozen=True, slots=True)
class StatusEvent:
    event_key: str
    account_sid: str
    message_sid: str
    status: str
    status_rank: int
    error_code: str | None
    messaging_service_sid: str | None
    sender: str | None
    received_at_us: int
    idempotency_token: str | None
    body: str  # the callback's form body exactly as received: every parameter, unknown ones too

    @property
    def received_at(self) -> datetime:
        return datetime.fromtimestamp(self.received_at_us / 1e6, UTC)


def event_key_of(params: FormParams) -> str:
    """Identity of an event: the same parameters with the same values, in any order, are the
    same callback (a replay or Twilio's retry), whatever its idempotency header says. 128 bits
    of BLAKE2b: only signed callbacks are stored, so nobody can aim for a collision."""
    canonical = "\n".join(map("=".join, params.sorted_pairs()))
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


def status_event_from(
    params: FormParams,
    *,
    received_at_us: int | None = None,
    idempotency_token: str | None = None,
    account_sid: str | None = None,
) -> StatusEvent:
    """The stored form of a signature-checked callback, or `MalformedCallback`.
    `account_sid`: the one `account_sid_of(params)` already returned."""
    account_sid = account_sid or account_sid_of(params)
    first = params.first
    # MessageSid/MessageStatus are current; SmsSid/SmsStatus are the legacy duplicates.
    message_sid = first.get("MessageSid") or first.get("SmsSid")
    if not message_sid:
        raise MalformedCallback("MessageSid is missing")
    if not MESSAGE_SID_PATTERN.match(message_sid):
        raise MalformedCallback("MessageSid is not a message SID")
    status = (first.get("MessageStatus") or first.get("SmsStatus") or "").strip().lower()
    if not status:
        raise MalformedCallback("MessageStatus is missing")
    if len(status) > MAX_STATUS_LENGTH:
        raise MalformedCallback("MessageStatus is too long")
    return StatusEvent(
        event_key=event_key_of(params),
        account_sid=account_sid,
        message_sid=message_sid,
        status=status,
        status_rank=status_rank(status),
        error_code=first.get("ErrorCode") or None,
        messaging_service_sid=first.get("MessagingServiceSid") or None,
        sender=first.get("From") or None,
        received_at_us=received_at_us if received_at_us is not None else time.time_ns() // 1000,
        idempotency_token=idempotency_token,
        body=params.body,
    )
