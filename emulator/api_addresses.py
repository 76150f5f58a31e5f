"""v2010 Addresses: the postal addresses Trust Hub supporting documents point at.

No address is really validated: `validated` and `verified` stay false, as Twilio answers for an
address it could not check, and AutoCorrectAddress is accepted and ignored.
"""

from __future__ import annotations

import re
from typing import Any

from emulator.pages import own_account_sid, v2010_account_list
from emulator.runtime import Call, Endpoint, Operation, Reply
from emulator.store import Record
from emulator.wire import bad_request, new_sid, rfc2822

# Parameter -> stored field, for the fields create needs and update may change.
_REQUIRED = {
    "CustomerName": "customer_name",
    "Street": "street",
    "City": "city",
    "Region": "region",
    "PostalCode": "postal_code",
}
_OPTIONAL = {"FriendlyName": "friendly_name", "StreetSecondary": "street_secondary"}
_TEXT_MAX = 255


def render_address(record: Record) -> dict[str, Any]:
    doc = record.doc
    return {
        "account_sid": record.account_sid,
        "city": doc["city"],
        "customer_name": doc["customer_name"],
        "date_created": rfc2822(record.date_created),
        "date_updated": rfc2822(record.date_updated),
        "friendly_name": doc["friendly_name"],
        "iso_country": doc["iso_country"],
        "postal_code": doc["postal_code"],
        "region": doc["region"],
        "sid": record.sid,
        "street": doc["street"],
        "uri": f"/2010-04-01/Accounts/{record.account_sid}/Addresses/{record.sid}.json",
        "emergency_enabled": doc["emergency_enabled"],
        "validated": False,
        "verified": False,
        "street_secondary": doc["street_secondary"],
    }


def _fields(call: Call, *, creating: bool) -> dict[str, Any]:
    params = call.params
    changes: dict[str, Any] = {}
    for param, field_name in _REQUIRED.items():
        value = params.text(param, max_length=_TEXT_MAX)
        if creating and not value:
            raise bad_request(20001, f"Missing required parameter {param} in the post body")
        if value:
            changes[field_name] = value
    for param, field_name in _OPTIONAL.items():
        value = params.text(param, max_length=_TEXT_MAX)
        if value is not None:
            changes[field_name] = value or None
    emergency = params.boolean("EmergencyEnabled")
    if emergency is not None:
        changes["emergency_enabled"] = emergency
    params.boolean("AutoCorrectAddress")
    if creating:
        country = params.required_text("IsoCountry").strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise bad_request(20001, f"IsoCountry {country[:8]} is not an ISO 3166 country code")
        changes["iso_country"] = country
    return changes


def create(call: Call) -> Reply:
    doc = {"friendly_name": None, "street_secondary": None, "emergency_enabled": False}
    doc.update(_fields(call, creating=True))
    record = call.emulator.create("address", new_sid("AD"), own_account_sid(call), doc)
    return 201, render_address(record)


def list_addresses(call: Call) -> Reply:
    where: list[tuple[str, tuple[Any, ...]]] = []
    for param, field_name in (
        ("CustomerName", "customer_name"),
        ("FriendlyName", "friendly_name"),
        ("IsoCountry", "iso_country"),
    ):
        value = call.params.text(param)
        if value:
            where.append((f"json_extract(doc, '$.{field_name}') = ?", (value,)))
    emergency = call.params.boolean("EmergencyEnabled")
    if emergency is not None:
        where.append(("json_extract(doc, '$.emergency_enabled') = ?", (int(emergency),)))
    return v2010_account_list(call, "address", "addresses", render_address, where)


def _address(call: Call) -> Record:
    return call.find("address", call.path_params["Sid"], "AD", account_sid=own_account_sid(call))


def fetch(call: Call) -> Reply:
    return 200, render_address(_address(call))


def update(call: Call) -> Reply:
    record = _address(call)
    changes = _fields(call, creating=False)
    if changes:
        record.doc.update(changes)
        call.store.save(record)
    return 200, render_address(record)


def delete(call: Call) -> Reply:
    call.store.delete(_address(call))
    return 204, None


_BASE = "/api/2010-04-01/Accounts/{AccountSid}"

# Restricted keys: Twilio publishes no permission name for Addresses, so none is granted.
ENDPOINTS = (
    Endpoint(
        f"{_BASE}/Addresses.json",
        (Operation("GET", list_addresses, None), Operation("POST", create, None)),
    ),
    Endpoint(
        _BASE + "/Addresses/{Sid}.json",
        (
            Operation("GET", fetch, None),
            Operation("POST", update, None),
            Operation("DELETE", delete, None),
        ),
    ),
)
