"""Messaging v1: Services and their sender pools (PhoneNumbers, ShortCodes, AlphaSenders).

v1 resources belong to the account whose credentials sign the request (no account in the
path). A number or short code sits in at most one service: pool membership is the
`container_sid` of the number's own record, so "one service per sender" holds by construction.
"""

from __future__ import annotations

import re
from typing import Any

from emulator import defaults
from emulator.pages import list_records, v1_list
from emulator.registrations import CAMPAIGN
from emulator.runtime import Call, Emulator, Endpoint, Operation, Reply
from emulator.store import Record
from emulator.wire import Params, TwilioError, bad_request, is_sid, iso8601, new_sid, now

USECASES = ("notifications", "marketing", "verification", "discussion", "poll", "undeclared")
SCAN_MESSAGE_CONTENT = ("inherit", "enable", "disable")

# Twilio's values for parameters a create leaves out.
SERVICE_DEFAULTS: dict[str, Any] = {
    "inbound_request_url": None,
    "inbound_method": "POST",
    "fallback_url": None,
    "fallback_method": "POST",
    "status_callback": None,
    "sticky_sender": True,
    "mms_converter": True,
    "smart_encoding": True,
    "scan_message_content": "inherit",
    "fallback_to_long_code": True,
    "area_code_geomatch": True,
    "validity_period": 36000,
    "synchronous_validation": False,
    "usecase": "undeclared",
    "use_inbound_webhook_on_number": False,
}

_BOOLEANS = {
    "StickySender": "sticky_sender",
    "MmsConverter": "mms_converter",
    "SmartEncoding": "smart_encoding",
    "FallbackToLongCode": "fallback_to_long_code",
    "AreaCodeGeomatch": "area_code_geomatch",
    "SynchronousValidation": "synchronous_validation",
    "UseInboundWebhookOnNumber": "use_inbound_webhook_on_number",
}
_URLS = {
    "InboundRequestUrl": ("inbound_request_url", 21502),
    "FallbackUrl": ("fallback_url", 21502),
    "StatusCallback": ("status_callback", 21609),
}
_METHODS = {"InboundMethod": "inbound_method", "FallbackMethod": "fallback_method"}
_ALPHA_SENDER = re.compile(r"^[A-Za-z0-9 +\-_&]{1,11}$")


# --- services ---------------------------------------------------------------------------------


def create_service(
    emulator: Emulator, account_sid: str, settings: dict[str, Any], *, is_default: bool = False
) -> Record:
    doc = {**SERVICE_DEFAULTS, **settings, "is_default": is_default}
    return emulator.create("service", new_sid("MG"), account_sid, doc)


def create_default_service(emulator: Emulator, account_sid: str) -> Record:
    """Twilio gives every account one (support article "Default Messaging Service")."""
    return create_service(
        emulator,
        account_sid,
        {"friendly_name": defaults.DEFAULT_SERVICE_FRIENDLY_NAME},
        is_default=True,
    )


def default_service(emulator: Emulator, account_sid: str) -> Record | None:
    services = emulator.store.select(
        "service",
        account_sids=[account_sid],
        where=[("json_extract(doc, '$.is_default') = 1", ())],
        limit=1,
    )
    return services[0] if services else None


def _service_settings(params: Params) -> dict[str, Any]:
    """Every create/update parameter of the spec, validated; absent ones are left out."""
    changes: dict[str, Any] = {}
    name = params.friendly_name()
    if name is not None:
        changes["friendly_name"] = name
    for param, (field_name, code) in _URLS.items():
        url = params.url(param, code=code)
        if url is not None:
            changes[field_name] = url or None
    for param, field_name in _METHODS.items():
        method = params.http_method(param)
        if method is not None:
            changes[field_name] = method
    for param, field_name in _BOOLEANS.items():
        flag = params.boolean(param)
        if flag is not None:
            changes[field_name] = flag
    scan = params.choice("ScanMessageContent", SCAN_MESSAGE_CONTENT, fold_case=True)
    if scan is not None:
        changes["scan_message_content"] = scan
    validity = params.integer(
        "ValidityPeriod",
        low=1,
        high=36000,
        code=21624,
        message="ValidityPeriod must be an integer from 1 to 36000 seconds",
    )
    if validity is not None:
        changes["validity_period"] = validity
    usecase = params.text("Usecase")
    if usecase is not None:
        if usecase.lower() not in USECASES:
            raise bad_request(
                21713, f"Usecase {usecase[:64]} is invalid; use one of {', '.join(USECASES)}"
            )
        changes["usecase"] = usecase.lower()
    return changes


def render_service(call: Call, record: Record) -> dict[str, Any]:
    doc = record.doc
    url = call.absolute(f"/v1/Services/{record.sid}")
    return {
        "account_sid": record.account_sid,
        "sid": record.sid,
        "date_created": iso8601(record.date_created),
        "date_updated": iso8601(record.date_updated),
        "friendly_name": doc["friendly_name"],
        "inbound_request_url": doc["inbound_request_url"],
        "inbound_method": doc["inbound_method"],
        "fallback_url": doc["fallback_url"],
        "fallback_method": doc["fallback_method"],
        "status_callback": doc["status_callback"],
        "sticky_sender": doc["sticky_sender"],
        "mms_converter": doc["mms_converter"],
        "smart_encoding": doc["smart_encoding"],
        "scan_message_content": doc["scan_message_content"],
        "fallback_to_long_code": doc["fallback_to_long_code"],
        "area_code_geomatch": doc["area_code_geomatch"],
        "validity_period": doc["validity_period"],
        "synchronous_validation": doc["synchronous_validation"],
        "usecase": doc["usecase"],
        # Set by the service's campaign review (registrations.sync_service).
        "us_app_to_person_registered": bool(doc.get("us_app_to_person_registered")),
        "use_inbound_webhook_on_number": doc["use_inbound_webhook_on_number"],
        "links": {
            "phone_numbers": f"{url}/PhoneNumbers",
            "short_codes": f"{url}/ShortCodes",
            "alpha_senders": f"{url}/AlphaSenders",
            "messages": f"{url}/Messages",
            "us_app_to_person": f"{url}/Compliance/Usa2p",
            "us_app_to_person_usecases": f"{url}/Compliance/Usa2p/Usecases",
            "channel_senders": f"{url}/ChannelSenders",
            "destination_alpha_senders": f"{url}/DestinationAlphaSenders",
        },
        "url": url,
    }


def find_service(call: Call, sid: str) -> Record:
    """A service of the signing account (v1 has no account in the path)."""
    return call.find("service", sid, "MG", account_sid=call.principal.account_sid)


def create(call: Call) -> Reply:
    call.params.required_text("FriendlyName")
    record = create_service(
        call.emulator, call.principal.account_sid, _service_settings(call.params)
    )
    return 201, render_service(call, record)


def list_services(call: Call) -> Reply:
    page = list_records(call, "service", account_sids=[call.principal.account_sid])
    return v1_list(call, "services", page, lambda r: render_service(call, r))


def fetch(call: Call) -> Reply:
    return 200, render_service(call, find_service(call, call.path_params["Sid"]))


def update(call: Call) -> Reply:
    record = find_service(call, call.path_params["Sid"])
    changes = _service_settings(call.params)
    if changes.get("friendly_name") == "":
        raise bad_request(20002, "FriendlyName cannot be empty")
    if changes:
        record.doc.update(changes)
        call.store.save(record)
    return 200, render_service(call, record)


def delete(call: Call) -> Reply:
    record = find_service(call, call.path_params["Sid"])
    store = call.store
    with store.transaction():
        # Leaving a pool never releases a number or a short code; alpha senders go with it.
        for kind in ("number", "short_code"):
            for member in store.select(kind, container_sid=record.sid):
                member.container_sid = None
                member.doc.pop("pooled_at", None)
                store.save(member)
        for alpha in store.select("alpha_sender", container_sid=record.sid):
            store.delete(alpha)
        for campaign in store.select(CAMPAIGN, container_sid=record.sid):
            call.registrations.forget(campaign.sid)
            store.delete(campaign)
        store.delete(record)
    return 204, None


# --- sender pools -----------------------------------------------------------------------------


def pool_size(call: Call, service_sid: str) -> int:
    return call.store.count("number", container_sid=service_sid) + call.store.count(
        "short_code", container_sid=service_sid
    )


def _join_pool(call: Call, service: Record, member: Record) -> Record:
    if member.container_sid == service.sid:
        raise TwilioError(
            409, 21710, "Phone Number or Short Code is already in the Messaging Service."
        )
    if member.container_sid is not None:
        raise TwilioError(
            409, 21712, "Phone Number or Short Code is associated with another Messaging Service."
        )
    if pool_size(call, service.sid) >= defaults.MAX_SENDERS_PER_SERVICE:
        raise bad_request(
            21714,
            f"The Messaging Service has reached its limit of {defaults.MAX_SENDERS_PER_SERVICE}"
            " senders.",
        )
    stamp = now()
    member.container_sid = service.sid
    member.doc["pooled_at"] = stamp
    return call.store.save(member, at=stamp)


def _capability_names(capabilities: dict[str, bool]) -> list[str]:
    names = {"mms": "MMS", "sms": "SMS", "voice": "Voice", "fax": "Fax"}
    return sorted(names[key] for key, on in capabilities.items() if on and key in names)


def _member_dates(member: Record) -> dict[str, Any]:
    pooled_at = member.doc.get("pooled_at") or member.date_updated
    return {"date_created": iso8601(pooled_at), "date_updated": iso8601(pooled_at)}


def render_pool_number(call: Call, member: Record) -> dict[str, Any]:
    service_sid = member.container_sid
    return {
        "sid": member.sid,
        "account_sid": member.account_sid,
        "service_sid": service_sid,
        **_member_dates(member),
        "phone_number": member.doc["phone_number"],
        "country_code": member.doc["iso_country"],
        "capabilities": _capability_names(member.doc["capabilities"]),
        "url": call.absolute(f"/v1/Services/{service_sid}/PhoneNumbers/{member.sid}"),
    }


def render_pool_short_code(call: Call, member: Record) -> dict[str, Any]:
    service_sid = member.container_sid
    return {
        "sid": member.sid,
        "account_sid": member.account_sid,
        "service_sid": service_sid,
        **_member_dates(member),
        "short_code": member.doc["short_code"],
        "country_code": member.doc["iso_country"],
        "capabilities": _capability_names(member.doc["capabilities"]),
        "url": call.absolute(f"/v1/Services/{service_sid}/ShortCodes/{member.sid}"),
    }


def render_alpha_sender(call: Call, member: Record) -> dict[str, Any]:
    service_sid = member.container_sid
    return {
        "sid": member.sid,
        "account_sid": member.account_sid,
        "service_sid": service_sid,
        "date_created": iso8601(member.date_created),
        "date_updated": iso8601(member.date_updated),
        "alpha_sender": member.doc["alpha_sender"],
        "capabilities": ["SMS"],
        "url": call.absolute(f"/v1/Services/{service_sid}/AlphaSenders/{member.sid}"),
    }


def _owned_sender(call: Call, kind: str, sid: str, param: str) -> Record:
    record = call.store.get(sid, kind) if is_sid(sid, "PN" if kind == "number" else "SC") else None
    if record is None or record.account_sid != call.principal.account_sid:
        what = "Phone Number" if kind == "number" else "Short Code"
        raise bad_request(21421, f"{param} {sid[:64]} is not a valid {what} SID of this account")
    return record


def add_phone_number(call: Call) -> Reply:
    service = find_service(call, call.path_params["ServiceSid"])
    sid = call.params.required_text("PhoneNumberSid")
    number = _owned_sender(call, "number", sid, "PhoneNumberSid")
    caps = number.doc["capabilities"]
    if not (caps.get("sms") or caps.get("mms")):
        raise bad_request(
            21715, f"Phone Number {number.doc['phone_number']} lacks SMS or MMS capability."
        )
    return 201, render_pool_number(call, _join_pool(call, service, number))


def add_short_code(call: Call) -> Reply:
    service = find_service(call, call.path_params["ServiceSid"])
    sid = call.params.required_text("ShortCodeSid")
    short_code = _owned_sender(call, "short_code", sid, "ShortCodeSid")
    return 201, render_pool_short_code(call, _join_pool(call, service, short_code))


def add_alpha_sender(call: Call) -> Reply:
    service = find_service(call, call.path_params["ServiceSid"])
    alpha = call.params.required_text("AlphaSender")
    if not _ALPHA_SENDER.match(alpha) or alpha.strip(" ").isdigit() or not alpha.strip():
        raise bad_request(
            21212,
            "AlphaSender must be 1-11 letters, digits, spaces or -+_& and not only digits",
        )
    for existing in call.store.select("alpha_sender", container_sid=service.sid):
        if existing.doc["alpha_sender"].lower() == alpha.lower():
            raise TwilioError(409, 21710, "The Alpha Sender is already in the Messaging Service.")
    record = call.emulator.create(
        "alpha_sender",
        new_sid("AI"),
        call.principal.account_sid,
        {"alpha_sender": alpha},
        container_sid=service.sid,
    )
    return 201, render_alpha_sender(call, record)


def _member(call: Call, kind: str, prefix: str) -> Record:
    service = find_service(call, call.path_params["ServiceSid"])
    return call.find(kind, call.path_params["Sid"], prefix, container_sid=service.sid)


def _leave_pool(call: Call, member: Record) -> Reply:
    member.container_sid = None
    member.doc.pop("pooled_at", None)
    call.store.save(member)
    return 204, None


def list_phone_numbers(call: Call) -> Reply:
    service = find_service(call, call.path_params["ServiceSid"])
    page = list_records(call, "number", container_sid=service.sid)
    return v1_list(call, "phone_numbers", page, lambda r: render_pool_number(call, r))


def fetch_phone_number(call: Call) -> Reply:
    return 200, render_pool_number(call, _member(call, "number", "PN"))


def remove_phone_number(call: Call) -> Reply:
    return _leave_pool(call, _member(call, "number", "PN"))


def list_short_codes(call: Call) -> Reply:
    service = find_service(call, call.path_params["ServiceSid"])
    page = list_records(call, "short_code", container_sid=service.sid)
    return v1_list(call, "short_codes", page, lambda r: render_pool_short_code(call, r))


def fetch_short_code(call: Call) -> Reply:
    return 200, render_pool_short_code(call, _member(call, "short_code", "SC"))


def remove_short_code(call: Call) -> Reply:
    return _leave_pool(call, _member(call, "short_code", "SC"))


def list_alpha_senders(call: Call) -> Reply:
    service = find_service(call, call.path_params["ServiceSid"])
    page = list_records(call, "alpha_sender", container_sid=service.sid)
    return v1_list(call, "alpha_senders", page, lambda r: render_alpha_sender(call, r))


def fetch_alpha_sender(call: Call) -> Reply:
    return 200, render_alpha_sender(call, _member(call, "alpha_sender", "AI"))


def remove_alpha_sender(call: Call) -> Reply:
    call.store.delete(_member(call, "alpha_sender", "AI"))
    return 204, None


_SERVICES = "/twilio/messaging/services"
_BASE = "/messaging/v1/Services"


def _crud(resource: str) -> dict[str, str]:
    return {action: f"{resource}/{action}" for action in ("create", "read", "update", "delete")}


_S = _crud(_SERVICES)
_PN = _crud(f"{_SERVICES}/phone-numbers")
_SC = _crud(f"{_SERVICES}/short-codes")
_AI = _crud(f"{_SERVICES}/alpha-senders")

ENDPOINTS = (
    Endpoint(
        _BASE,
        (Operation("GET", list_services, _S["read"]), Operation("POST", create, _S["create"])),
    ),
    Endpoint(
        _BASE + "/{Sid}",
        (
            Operation("GET", fetch, _S["read"]),
            Operation("POST", update, _S["update"]),
            Operation("DELETE", delete, _S["delete"]),
        ),
    ),
    Endpoint(
        _BASE + "/{ServiceSid}/PhoneNumbers",
        (
            Operation("GET", list_phone_numbers, _PN["read"]),
            Operation("POST", add_phone_number, _PN["create"]),
        ),
    ),
    Endpoint(
        _BASE + "/{ServiceSid}/PhoneNumbers/{Sid}",
        (
            Operation("GET", fetch_phone_number, _PN["read"]),
            Operation("DELETE", remove_phone_number, _PN["delete"]),
        ),
    ),
    Endpoint(
        _BASE + "/{ServiceSid}/ShortCodes",
        (
            Operation("GET", list_short_codes, _SC["read"]),
            Operation("POST", add_short_code, _SC["create"]),
        ),
    ),
    Endpoint(
        _BASE + "/{ServiceSid}/ShortCodes/{Sid}",
        (
            Operation("GET", fetch_short_code, _SC["read"]),
            Operation("DELETE", remove_short_code, _SC["delete"]),
        ),
    ),
    Endpoint(
        _BASE + "/{ServiceSid}/AlphaSenders",
        (
            Operation("GET", list_alpha_senders, _AI["read"]),
            Operation("POST", add_alpha_sender, _AI["create"]),
        ),
    ),
    Endpoint(
        _BASE + "/{ServiceSid}/AlphaSenders/{Sid}",
        (
            Operation("GET", fetch_alpha_sender, _AI["read"]),
            Operation("DELETE", remove_alpha_sender, _AI["delete"]),
        ),
    ),
)
