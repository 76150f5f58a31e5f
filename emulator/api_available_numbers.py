"""v2010 AvailablePhoneNumbers: the countries and number types on offer, and the search that
buying a number draws on (emulator/inventory.py holds the deterministic inventory)."""

from __future__ import annotations

import re
from typing import Any

from emulator import inventory
from emulator.pages import own_account_sid
from emulator.runtime import Call, Emulator, Endpoint, Operation, Reply
from emulator.wire import Params, bad_request, not_found, page_request, v2010_page


def is_taken(emulator: Emulator) -> Any:
    """Whether a number is owned already (by any account): owned numbers are not on offer."""
    return lambda phone_number: emulator.store.by_unique_key("number", phone_number) is not None


def _country_resource(account_sid: str, code: str) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{account_sid}/AvailablePhoneNumbers/{code}"
    subresources = {
        "Local": "local",
        "TollFree": "toll_free",
    }
    return {
        "country_code": code,
        "country": inventory.COUNTRIES[code],
        "uri": f"{base}.json",
        "beta": False,
        "subresource_uris": {
            subresources[kind]: f"{base}/{kind}.json" for kind in inventory.COUNTRY_TYPES[code]
        },
    }


def list_countries(call: Call) -> Reply:
    account_sid = own_account_sid(call)
    return 200, {
        "countries": [_country_resource(account_sid, code) for code in inventory.COUNTRIES],
        "uri": call.twilio_path,
    }


def fetch_country(call: Call) -> Reply:
    code = call.path_params["CountryCode"]
    if code not in inventory.COUNTRIES:
        raise not_found(call.twilio_path)
    return 200, _country_resource(own_account_sid(call), code)


def _search_filters(params: Params) -> inventory.SearchFilters:
    area_code = params.text("AreaCode")
    if area_code is not None and not re.fullmatch(r"[2-9]\d{2}", area_code.strip()):
        raise bad_request(21451, f"AreaCode {area_code[:16]} is not a valid area code")
    contains = params.text("Contains")
    pattern = None
    if contains is not None:
        pattern = inventory.contains_pattern(contains)
        if pattern is None:
            raise bad_request(
                20001, "Contains must be 2-16 characters: digits, letters or the * wildcard"
            )
    near_npa = None
    near_number = params.text("NearNumber")
    if near_number is not None:
        match = re.fullmatch(r"\+?1?([2-9]\d{2})\d{7}", near_number.strip())
        if not match:
            raise bad_request(21421, f"NearNumber {near_number[:20]} is not a valid phone number")
        near_npa = match.group(1)
    near_lat_long = None
    lat_long = params.text("NearLatLong")
    if lat_long is not None:
        match = re.fullmatch(r"\s*(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*", lat_long)
        if not match or abs(float(match.group(1))) > 90 or abs(float(match.group(2))) > 180:
            raise bad_request(20001, "NearLatLong must be 'latitude,longitude'")
        near_lat_long = (float(match.group(1)), float(match.group(2)))
    distance = params.integer("Distance", low=0, high=500)
    for flag in (
        "ExcludeAllAddressRequired",
        "ExcludeLocalAddressRequired",
        "ExcludeForeignAddressRequired",
        "Beta",
    ):
        params.boolean(flag)  # validated; every emulated number is non-beta and needs no address
    return inventory.SearchFilters(
        area_code=area_code.strip() if area_code else None,
        contains=pattern,
        sms=params.boolean("SmsEnabled"),
        mms=params.boolean("MmsEnabled"),
        voice=params.boolean("VoiceEnabled"),
        fax=params.boolean("FaxEnabled"),
        in_region=params.text("InRegion"),
        in_locality=params.text("InLocality"),
        in_postal_code=params.text("InPostalCode"),
        in_rate_center=params.text("InRateCenter"),
        in_lata=params.text("InLata"),
        near_npa=near_npa,
        near_lat_long=near_lat_long,
        distance_miles=float(distance if distance is not None else 25),
    )


def render_available(number: inventory.InventoryNumber) -> dict[str, Any]:
    area = number.area
    return {
        "friendly_name": number.friendly_name,
        "phone_number": number.phone_number,
        "lata": area.lata if area else None,
        "locality": area.locality if area else None,
        "rate_center": area.rate_center if area else None,
        "latitude": area.latitude if area else None,
        "longitude": area.longitude if area else None,
        "region": area.region if area else None,
        "postal_code": area.postal_code if area else None,
        "iso_country": number.iso_country,
        "address_requirements": "none",
        "beta": False,
        "capabilities": number.capabilities,
    }


def search_numbers(call: Call) -> Reply:
    country = call.path_params["CountryCode"]
    number_type = call.path_params["NumberType"]
    if country not in inventory.COUNTRIES or number_type not in inventory.COUNTRY_TYPES[country]:
        raise not_found(call.twilio_path)
    request = page_request(call.params)
    filters = _search_filters(call.params)
    found = inventory.search(
        country, number_type, filters, request.page_size, is_taken(call.emulator)
    )
    items = [render_available(number) for number in found]
    # The spec declares the full v2010 envelope for searches (examples show only the array and
    # `uri`); one page, never a next page.
    return 200, v2010_page(
        "available_phone_numbers", items, request, call.twilio_path, call.params.items(), None
    )


# --- IncomingPhoneNumbers ---------------------------------------------------------------------


_BASE = "/api/2010-04-01/Accounts/{AccountSid}"

ENDPOINTS = (
    Endpoint(
        f"{_BASE}/AvailablePhoneNumbers.json",
        (Operation("GET", list_countries, "/twilio/phone-numbers/available/read"),),
    ),
    Endpoint(
        _BASE + "/AvailablePhoneNumbers/{CountryCode}.json",
        (Operation("GET", fetch_country, "/twilio/phone-numbers/available/read"),),
    ),
    Endpoint(
        _BASE + "/AvailablePhoneNumbers/{CountryCode}/{NumberType}.json",
        (Operation("GET", search_numbers, "/twilio/phone-numbers/available/read"),),
    ),
)
