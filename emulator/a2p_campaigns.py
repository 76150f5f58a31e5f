"""Messaging v1 US A2P campaigns: `Services/{sid}/Compliance/Usa2p` (+ `{Sid}`, `Usecases`).

A campaign needs an APPROVED brand of the signing account (21717 otherwise) and a Messaging
Service of that same account; a service holds at most one campaign and a SOLE_PROPRIETOR brand
has at most one. It starts PENDING and is VERIFIED through `registrations`; a verified campaign
registers the US 10DLC numbers of its service (`us_app_to_person_registered`, and the traffic
gate in `registrations.unregistered_10dlc`). Updates take exactly the seven fields Twilio lets
you change; any other field is refused, naming it.
"""

from __future__ import annotations

import re
from typing import Any

from emulator import a2p_catalog
from emulator.messaging_services import find_service
from emulator.pages import list_records, v1_list
from emulator.registrations import BRAND, CAMPAIGN, sync_service, tcr_id
from emulator.runtime import Call, Endpoint, Operation, Reply
from emulator.store import Record
from emulator.wire import Params, TwilioError, bad_request, is_sid, iso8601, new_sid

UPDATABLE = (
    "HasEmbeddedLinks",
    "HasEmbeddedPhone",
    "MessageSamples",
    "MessageFlow",
    "Description",
    "AgeGated",
    "DirectLending",
)
_KEYWORD = re.compile(r"^[A-Za-z0-9]+$")
# Parameter -> (field, min length, max length) for the free texts Twilio bounds.
_TEXTS = {
    "Description": ("description", 40, 4096),
    "MessageFlow": ("message_flow", 40, 2048),
    "OptInMessage": ("opt_in_message", 20, 320),
    "OptOutMessage": ("opt_out_message", 20, 320),
    "HelpMessage": ("help_message", 20, 320),
}
_KEYWORDS = {
    "OptInKeywords": "opt_in_keywords",
    "OptOutKeywords": "opt_out_keywords",
    "HelpKeywords": "help_keywords",
}
_FLAGS = {
    "HasEmbeddedLinks": "has_embedded_links",
    "HasEmbeddedPhone": "has_embedded_phone",
    "SubscriberOptIn": "subscriber_opt_in",
    "AgeGated": "age_gated",
    "DirectLending": "direct_lending",
}
_REQUIRED_ON_CREATE = (
    "BrandRegistrationSid",
    "Description",
    "MessageFlow",
    "MessageSamples",
    "UsAppToPersonUsecase",
    "HasEmbeddedLinks",
    "HasEmbeddedPhone",
)


def render_campaign(call: Call, record: Record) -> dict[str, Any]:
    doc = record.doc
    service_sid = record.container_sid
    return {
        "sid": record.sid,
        "account_sid": record.account_sid,
        "brand_registration_sid": doc["brand_registration_sid"],
        "messaging_service_sid": service_sid,
        "description": doc["description"],
        "message_samples": doc["message_samples"],
        "us_app_to_person_usecase": doc["us_app_to_person_usecase"],
        "has_embedded_links": doc["has_embedded_links"],
        "has_embedded_phone": doc["has_embedded_phone"],
        "subscriber_opt_in": doc["subscriber_opt_in"],
        "age_gated": doc["age_gated"],
        "direct_lending": doc["direct_lending"],
        "campaign_status": doc["campaign_status"],
        "campaign_id": doc["campaign_id"],
        "is_externally_registered": False,
        "rate_limits": doc["rate_limits"],
        "message_flow": doc["message_flow"],
        "opt_in_message": doc["opt_in_message"],
        "opt_out_message": doc["opt_out_message"],
        "help_message": doc["help_message"],
        "opt_in_keywords": doc["opt_in_keywords"],
        "opt_out_keywords": doc["opt_out_keywords"],
        "help_keywords": doc["help_keywords"],
        "date_created": iso8601(record.date_created),
        "date_updated": iso8601(record.date_updated),
        "url": call.absolute(f"/v1/Services/{service_sid}/Compliance/Usa2p/{record.sid}"),
        "mock": doc["mock"],
        "errors": doc["errors"],
    }


def _require(params: Params, names: tuple[str, ...]) -> None:
    for name in names:
        if not params.values(name) or params.values(name) == [""]:
            raise bad_request(20001, f"Missing required parameter {name} in the post body")


def _samples(params: Params) -> list[str]:
    samples = params.values("MessageSamples")
    if not 2 <= len(samples) <= 5 or not all(20 <= len(s) <= 1024 for s in samples):
        raise bad_request(
            20001, "MessageSamples must hold 2 to 5 samples of 20 to 1024 characters each"
        )
    return samples


def _campaign_fields(params: Params, names: tuple[str, ...]) -> dict[str, Any]:
    """The validated values of the parameters `names` that the request carries."""
    fields: dict[str, Any] = {}
    for name in names:
        if not params.has(name):
            continue
        if name in _TEXTS:
            field_name, low, high = _TEXTS[name]
            value = params.text(name) or ""
            if not low <= len(value) <= high:
                raise bad_request(20001, f"{name} must be {low} to {high} characters long")
            fields[field_name] = value
        elif name in _KEYWORDS:
            keywords = [k for value in params.values(name) for k in value.split(",") if k]
            if not all(_KEYWORD.match(k) for k in keywords) or len(",".join(keywords)) > 255:
                raise bad_request(
                    20001, f"{name} must be alphanumeric keywords, 255 characters in all"
                )
            fields[_KEYWORDS[name]] = keywords
        elif name in _FLAGS:
            fields[_FLAGS[name]] = params.boolean(name)
        elif name == "MessageSamples":
            fields["message_samples"] = _samples(params)
    return fields


def _brand(call: Call) -> Record:
    sid = call.params.required_text("BrandRegistrationSid")
    brand = call.store.get(sid, BRAND) if is_sid(sid, "BN") else None
    if brand is None or brand.account_sid != call.principal.account_sid:
        raise bad_request(21717, f"Brand {sid[:64]} is not a brand of this account")
    if brand.doc["status"] != "APPROVED":
        raise bad_request(
            21717, f"Brand {sid} is {brand.doc['status']}; a campaign needs an APPROVED brand"
        )
    return brand


def create(call: Call) -> Reply:
    service = find_service(call, call.path_params["MessagingServiceSid"])
    params = call.params
    _require(params, _REQUIRED_ON_CREATE)
    brand = _brand(call)
    codes = [u["code"] for u in a2p_catalog.usecases_for(brand.doc["brand_type"])]
    usecase = params.required_text("UsAppToPersonUsecase")
    if usecase not in codes:
        raise bad_request(
            20001,
            f"UsAppToPersonUsecase {usecase[:64]} is not available to a"
            f" {brand.doc['brand_type']} brand; use one of {', '.join(codes)}",
        )
    fields = _campaign_fields(params, (*_TEXTS, *_KEYWORDS, *_FLAGS, "MessageSamples"))
    if call.store.count(CAMPAIGN, container_sid=service.sid):
        raise TwilioError(409, 20409, f"Messaging Service {service.sid} already has a campaign")
    if brand.doc["brand_type"] == "SOLE_PROPRIETOR" and call.store.count(
        CAMPAIGN,
        account_sids=[brand.account_sid],
        where=[("json_extract(doc, '$.brand_registration_sid') = ?", (brand.sid,))],
    ):
        raise TwilioError(409, 20409, f"SOLE_PROPRIETOR brand {brand.sid} already has a campaign")
    doc: dict[str, Any] = {
        "brand_registration_sid": brand.sid,
        "us_app_to_person_usecase": usecase,
        # Twilio's values when left out (the spec's createWithDefaults example).
        "subscriber_opt_in": True,
        "age_gated": False,
        "direct_lending": False,
        "opt_in_message": None,
        "opt_out_message": None,
        "help_message": None,
        "opt_in_keywords": None,
        "opt_out_keywords": None,
        "help_keywords": None,
        **fields,
        "campaign_id": tcr_id("C"),
        "rate_limits": {},
        "mock": brand.doc["mock"],
        "errors": [],
    }
    record = call.emulator.create(
        CAMPAIGN, new_sid("QE"), call.principal.account_sid, doc, container_sid=service.sid
    )
    call.registrations.submit(record, "PENDING")
    call.store.save(record, at=record.date_created)
    return 201, render_campaign(call, record)


def _campaign(call: Call) -> Record:
    service = find_service(call, call.path_params["MessagingServiceSid"])
    return call.find(CAMPAIGN, call.path_params["Sid"], "QE", container_sid=service.sid)


def list_campaigns(call: Call) -> Reply:
    service = find_service(call, call.path_params["MessagingServiceSid"])
    page = list_records(call, CAMPAIGN, container_sid=service.sid)
    return v1_list(call, "compliance", page, lambda r: render_campaign(call, r))


def fetch(call: Call) -> Reply:
    return 200, render_campaign(call, _campaign(call))


def update(call: Call) -> Reply:
    record = _campaign(call)
    params = call.params
    refused = sorted({name for name, _ in params.items()} - set(UPDATABLE))
    if refused:
        raise bad_request(
            20001,
            f"{', '.join(refused)} cannot be updated on a campaign; only"
            f" {', '.join(UPDATABLE)} can",
        )
    _require(params, UPDATABLE)
    record.doc.update(_campaign_fields(params, UPDATABLE))
    call.store.save(record)
    return 200, render_campaign(call, record)


def delete(call: Call) -> Reply:
    record = _campaign(call)
    call.registrations.forget(record.sid)
    with call.store.transaction():
        sync_service(call.store, record, removed=True)
        call.store.delete(record)
    return 204, None


def usecases(call: Call) -> Reply:
    find_service(call, call.path_params["MessagingServiceSid"])
    brand_type = None
    sid = call.params.text("BrandRegistrationSid")
    if sid:
        brand = call.find(BRAND, sid, "BN", account_sid=call.principal.account_sid)
        brand_type = brand.doc["brand_type"]
    return 200, {"us_app_to_person_usecases": a2p_catalog.usecases_for(brand_type)}


_BASE = "/messaging/v1/Services/{MessagingServiceSid}/Compliance/Usa2p"

# Restricted keys: Twilio publishes no permission names for A2P, so none is granted.
# The literal Usecases route comes before {Sid}, which would otherwise match it.
ENDPOINTS = (
    Endpoint(_BASE, (Operation("GET", list_campaigns, None), Operation("POST", create, None))),
    Endpoint(_BASE + "/Usecases", (Operation("GET", usecases, None),)),
    Endpoint(
        _BASE + "/{Sid}",
        (
            Operation("GET", fetch, None),
            Operation("POST", update, None),
            Operation("DELETE", delete, None),
        ),
    ),
)
