"""v2010 Messages: send (with From or a Messaging Service), fetch, list, redact/cancel, delete.

A message sent without MessagingServiceSid is carried by the account's auto-generated default
service when it has one (reference §6.7), so its `messaging_service_sid` is that service and the
service's status callback applies.
"""

from __future__ import annotations

import calendar
import json
import math
import re
import time
from datetime import datetime
from typing import Any

from emulator.lifecycle import FINAL_STATUSES
from emulator.messaging_services import default_service
from emulator.pages import list_records, v2010_list
from emulator.runtime import Call, Endpoint, Operation, Reply
from emulator.store import Record
from emulator.wire import (
    Params,
    TwilioError,
    bad_request,
    is_sid,
    is_valid_url,
    new_sid,
    rfc2822,
)

BODY_MAX = 1600
MEDIA_MAX = 10
SCHEDULE_MIN_S = 15 * 60
SCHEDULE_MAX_S = 35 * 24 * 3600

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_CHANNEL = re.compile(r"^(whatsapp|messenger|rcs):\S{1,256}$")
_SHORT_CODE = re.compile(r"^\d{3,8}$")
_ALPHA = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 +\-_&]{1,11}$")
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def segment_count(body: str) -> int:
    """SMS segments: 160/153 GSM-7 units, else 70/67 UCS-2 code units."""
    if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in body):
        units = len(body) + sum(ch in _GSM7_EXTENDED for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return math.ceil(units / multi)


def render_message(record: Record) -> dict[str, Any]:
    doc = record.doc
    uri = f"/2010-04-01/Accounts/{record.account_sid}/Messages/{record.sid}"
    return {
        "account_sid": record.account_sid,
        "api_version": "2010-04-01",
        "body": doc["body"],
        "date_created": rfc2822(record.date_created),
        "date_sent": rfc2822(doc["date_sent"]),
        "date_updated": rfc2822(record.date_updated),
        "direction": "outbound-api",
        "error_code": doc["error_code"],
        "error_message": None,
        "from": doc["from"],
        "messaging_service_sid": record.container_sid,
        "num_media": doc["num_media"],
        "num_segments": doc["num_segments"],
        "price": doc["price"],
        "price_unit": doc["price_unit"],
        "sid": record.sid,
        "status": doc["status"],
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": doc["to"],
        "uri": f"{uri}.json",
    }


def _validate_options(params: Params) -> None:
    """Parameters the emulator accepts but does not act on: still Twilio-validated."""
    for flag in ("ProvideFeedback", "ForceDelivery", "SmartEncoded", "ShortenUrls", "SendAsMms"):
        params.boolean(flag)
    params.integer("Attempt", low=1, high=1000)
    max_price = params.text("MaxPrice")
    if max_price is not None and not re.fullmatch(r"\d{1,6}(\.\d{1,6})?", max_price.strip()):
        raise bad_request(20001, "MaxPrice must be a number")
    params.choice("ContentRetention", ("retain", "discard"))
    params.choice("AddressRetention", ("retain", "obfuscate"))
    params.choice("RiskCheck", ("enable", "disable"))
    params.choice("TrafficType", ("free",))
    params.sid("ApplicationSid", "AP")
    variables = params.text("ContentVariables")
    if variables is not None:
        try:
            json.loads(variables)
        except (ValueError, RecursionError) as exc:
            raise bad_request(21656, "ContentVariables must be a JSON object") from exc


def _content(params: Params) -> tuple[str, list[str], str | None]:
    body = params.text("Body")
    media = params.values("MediaUrl")
    content_sid = params.sid("ContentSid", "HX", code=21655)
    if not body and not media and not content_sid:
        if body is None:
            raise bad_request(21602, "Message body is required.")
        raise bad_request(21619, "A text message body or media urls must be specified.")
    if body is not None and len(body) > BODY_MAX:
        raise bad_request(
            21617, f"The concatenated message body exceeds the {BODY_MAX} character limit."
        )
    if len(media) > MEDIA_MAX:
        raise bad_request(21623, f"At most {MEDIA_MAX} MediaUrl values are allowed.")
    for url in media:
        if not is_valid_url(url):
            raise bad_request(21620, f"Invalid media URL: {url[:200]}")
    return body or "", media, content_sid


def _service_for(call: Call, account: Record) -> tuple[Record | None, bool]:
    """The service carrying the message, and whether the caller named it."""
    sid = call.params.text("MessagingServiceSid")
    if sid:
        if not is_sid(sid, "MG"):
            raise bad_request(21705, f"Invalid Messaging Service SID {sid[:64]}")
        service = call.store.get(sid, "service")
        if service is None or service.account_sid != account.sid:
            raise bad_request(21701, f"The Messaging Service {sid} does not exist")
        return service, True
    return default_service(call.emulator, account.sid), False


def _sender(call: Call, account: Record, value: str, service: Record | None) -> str:
    """The `From` the caller gave, checked against what the account owns."""
    sender = value.strip()
    if _E164.match(sender):
        number = call.store.by_unique_key("number", sender)
        caps = number.doc["capabilities"] if number else {}
        if (
            number is None
            or number.account_sid != account.sid
            or not (caps.get("sms") or caps.get("mms"))
        ):
            raise bad_request(
                21606,
                f"The 'From' phone number provided ({sender}) is not a valid message-capable"
                " Twilio phone number for this destination/account.",
            )
        return sender
    if _SHORT_CODE.match(sender):
        short_code = call.store.by_unique_key("short_code", sender)
        if short_code is None or short_code.account_sid != account.sid:
            raise bad_request(
                21606, f"The 'From' short code provided ({sender}) is not owned by this account."
            )
        return sender
    if _ALPHA.match(sender):
        owned = call.store.count(
            "alpha_sender",
            account_sids=[account.sid],
            where=[("json_extract(doc, '$.alpha_sender') = ?", (sender,))],
        )
        if not owned:
            raise bad_request(
                21212,
                f"The alphanumeric sender ID {sender} is not in a Messaging Service"
                " of this account.",
            )
        return sender
    if _CHANNEL.match(sender):
        raise bad_request(
            63007, f"Could not find a Channel with the specified From address: {sender[:64]}"
        )
    raise bad_request(21212, f"Invalid From Number: {sender[:64]}")


def _schedule(params: Params, service_named: bool) -> float | None:
    schedule_type = params.choice("ScheduleType", ("fixed",))
    send_at = params.text("SendAt")
    if schedule_type is None:
        return None
    if not service_named:
        raise bad_request(35111, "MessagingServiceSid is required to schedule a message.")
    if not send_at:
        raise bad_request(35114, "SendAt is required to schedule a message.")
    try:
        moment = datetime.fromisoformat(send_at.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(35114, "SendAt must be an ISO 8601 date and time.") from exc
    if moment.tzinfo is None:
        raise bad_request(35114, "SendAt must include a time zone.")
    start_at = moment.timestamp()
    ahead = start_at - time.time()
    if not SCHEDULE_MIN_S <= ahead <= SCHEDULE_MAX_S:
        raise bad_request(35114, "SendAt must be between 15 minutes and 35 days in the future.")
    return start_at


def create(call: Call) -> Reply:
    account = call.account
    assert account is not None
    if account.doc["status"] != "active":
        raise TwilioError(403, 10001, "Account is not active")
    params = call.params
    to = params.text("To")
    if not to:
        raise bad_request(21604, "A 'To' phone number is required.")
    to = to.strip()
    if not (_E164.match(to) or _CHANNEL.match(to)):
        raise bad_request(21211, f"The 'To' number {to[:64]} is not a valid phone number.")
    from_value = params.text("From")
    if not from_value and not params.text("MessagingServiceSid"):
        raise bad_request(21603, "A 'From' phone number is required.")
    body, media, _content_sid = _content(params)
    status_callback = params.url("StatusCallback", code=21609)
    validity = params.integer(
        "ValidityPeriod",
        low=1,
        high=36000,
        code=21624,
        message="ValidityPeriod must be an integer from 1 to 36000 seconds",
    )
    _validate_options(params)
    service, service_named = _service_for(call, account)
    sender = _sender(call, account, from_value, service) if from_value else None
    if sender is None:
        assert service is not None
        senders = sum(
            call.store.count(kind, container_sid=service.sid)
            for kind in ("number", "short_code", "alpha_sender")
        )
        if not senders:
            raise bad_request(
                21704, "The Messaging Service contains no phone numbers or other senders."
            )
    start_at = _schedule(params, service_named)
    segments = "1" if media else str(segment_count(body))
    # Initial status (Twilio docs): scheduled, accepted through a named service, else queued.
    status = "scheduled" if start_at is not None else ("accepted" if service_named else "queued")
    doc: dict[str, Any] = {
        "to": to,
        "from": sender,
        "body": body,
        "status": status,
        "num_segments": segments if sender else "0",
        "num_media": str(len(media)),
        "error_code": None,
        "price": None,
        "price_unit": None,
        "date_sent": None,
        "status_callback": status_callback or None,
        "validity_period": validity,
    }
    lifecycle = call.lifecycle
    delay = lifecycle.prepare(doc, start_at=start_at)
    doc["lifecycle"]["segments"] = segments
    record = call.emulator.create(
        "message",
        new_sid("MM" if media else "SM"),
        account.sid,
        doc,
        container_sid=service.sid if service else None,
    )
    lifecycle.schedule(record.sid, delay)
    return 201, render_message(record)


def _day_bounds(value: str, name: str) -> tuple[int, int, bool]:
    """(start, end) epoch seconds of a DateSent filter; `exact` when a time was given."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = calendar.timegm(time.strptime(text, "%Y-%m-%d"))
            return day, day + 86399, False
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as exc:
        raise bad_request(20001, f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time") from exc
    stamp = int(moment.timestamp()) if moment.tzinfo else calendar.timegm(moment.timetuple())
    return stamp, stamp, True


def list_messages(call: Call) -> Reply:
    assert call.account is not None
    params = call.params
    where: list[tuple[str, tuple[Any, ...]]] = []
    for name, field_name in (("To", "to"), ("From", "from")):
        value = params.text(name)
        if value is not None:
            where.append((f"json_extract(doc, '$.{field_name}') = ?", (value.strip(),)))
    sent = "json_extract(doc, '$.date_sent')"
    on = params.text("DateSent")
    if on is not None:
        start, end, exact = _day_bounds(on, "DateSent")
        if exact:  # a time on DateSent still means that whole (UTC) day
            start = start - start % 86400
            end = start + 86399
        where.append((f"{sent} BETWEEN ? AND ?", (start, end)))
    before = params.text("DateSent<")
    if before is not None:
        _, end, _ = _day_bounds(before, "DateSent<")
        where.append((f"{sent} <= ?", (end,)))
    after = params.text("DateSent>")
    if after is not None:
        start, _, _ = _day_bounds(after, "DateSent>")
        where.append((f"{sent} >= ?", (start,)))
    page = list_records(
        call, "message", account_sids=[call.account.sid], where=where, newest_first=True
    )
    return v2010_list(call, "messages", page, render_message)


def _message(call: Call) -> Record:
    assert call.account is not None
    return call.find("message", call.path_params["Sid"], "SM", "MM", account_sid=call.account.sid)


def fetch(call: Call) -> Reply:
    return 200, render_message(_message(call))


def update(call: Call) -> Reply:
    record = _message(call)
    body = call.params.text("Body")
    status = call.params.choice("Status", ("canceled",))
    if body is not None and body != "":
        raise bad_request(20001, "Body can only be updated to an empty string (redaction).")
    if status == "canceled":
        if record.doc["status"] != "scheduled":
            raise bad_request(30409, "This message cannot be canceled.")
        record.doc["status"] = "canceled"
        call.lifecycle.cancel(record)
    if body == "":
        record.doc["body"] = ""
    call.store.save(record)
    return 200, render_message(record)


def delete(call: Call) -> Reply:
    record = _message(call)
    if record.doc["status"] not in FINAL_STATUSES:
        raise TwilioError(409, 20009, "Cannot delete this resource before it is complete")
    call.store.delete(record)
    return 204, None


_BASE = "/api/2010-04-01/Accounts/{AccountSid}"
_MESSAGES = "/twilio/messaging/messages"

ENDPOINTS = (
    Endpoint(
        f"{_BASE}/Messages.json",
        (
            Operation("GET", list_messages, f"{_MESSAGES}/read"),
            Operation("POST", create, f"{_MESSAGES}/create"),
        ),
    ),
    Endpoint(
        _BASE + "/Messages/{Sid}.json",
        (
            Operation("GET", fetch, f"{_MESSAGES}/read"),
            Operation("POST", update, f"{_MESSAGES}/update"),
            Operation("DELETE", delete, f"{_MESSAGES}/delete"),
        ),
    ),
)
