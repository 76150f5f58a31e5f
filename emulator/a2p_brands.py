"""Messaging v1 A2P brands: `a2p/BrandRegistrations` with their `Vettings` and `SmsOtp`.

A brand takes only the two Trust Hub bundle SIDs (a customer profile and an A2P trust product
of the signing account, both submitted for review and of the policies its `BrandType` needs),
`BrandType`, `Mock` and `SkipAutomaticSecVet`: the business itself is what the bundles say.
It starts PENDING and is APPROVED once both bundles are twilio-approved (`registrations`).
A FAILED brand can be resubmitted (POST without a body, 202), at most three times (21724);
any other state refuses it (21725).
"""

from __future__ import annotations

from typing import Any

from emulator import a2p_catalog
from emulator.pages import list_records, v1_list
from emulator.registrations import BRAND, tcr_id
from emulator.runtime import Call, Endpoint, Operation, Reply
from emulator.store import Record
from emulator.wire import TwilioError, bad_request, is_sid, iso8601, new_sid

BRAND_TYPES = tuple(a2p_catalog.BRAND_BUNDLES)
VETTING_PROVIDERS = ("campaign-verify", "aegis")
MAX_RESUBMISSIONS = 3
SUBMITTED = ("pending-review", "in-review", "twilio-approved")


def render_brand(call: Call, record: Record) -> dict[str, Any]:
    doc = record.doc
    url = call.absolute(f"/v1/a2p/BrandRegistrations/{record.sid}")
    return {
        "sid": record.sid,
        "account_sid": record.account_sid,
        "customer_profile_bundle_sid": doc["customer_profile_bundle_sid"],
        "a2p_profile_bundle_sid": doc["a2p_profile_bundle_sid"],
        "date_created": iso8601(record.date_created),
        "date_updated": iso8601(record.date_updated),
        "brand_type": doc["brand_type"],
        "status": doc["status"],
        "tcr_id": doc["tcr_id"],
        "failure_reason": doc["failure_reason"],
        "errors": doc["errors"],
        "url": url,
        "brand_score": doc["brand_score"],
        "brand_feedback": doc["brand_feedback"],
        "identity_status": doc["identity_status"],
        "russell_3000": doc["russell_3000"],
        "government_entity": doc["government_entity"],
        "tax_exempt_status": doc["tax_exempt_status"],
        "skip_automatic_sec_vet": doc["skip_automatic_sec_vet"],
        "mock": doc["mock"],
        "links": {
            "brand_vettings": f"{url}/Vettings",
            "brand_registration_otps": f"{url}/SmsOtp",
        },
    }


def _bundle(call: Call, param: str, kind: str, policies: tuple[str, ...], brand_type: str) -> str:
    sid = call.params.required_text(param)
    record = call.store.get(sid, kind) if is_sid(sid, "BU") else None
    if record is None or record.account_sid != call.principal.account_sid:
        raise bad_request(20001, f"{param} {sid[:64]} is not a bundle of this account")
    if record.doc["policy_sid"] not in policies:
        raise bad_request(
            20001,
            f"{param} {sid} has policy {record.doc['policy_sid']}; a {brand_type} brand needs"
            f" one of {', '.join(policies)}",
        )
    if record.doc["status"] not in SUBMITTED:
        raise bad_request(
            20001,
            f"{param} {sid} is {record.doc['status']}; submit it for review (pending-review) first",
        )
    return sid


def create(call: Call) -> Reply:
    params = call.params
    brand_type = params.choice("BrandType", BRAND_TYPES) or "STANDARD"
    profile_policies, product_policy = a2p_catalog.BRAND_BUNDLES[brand_type]
    profile_sid = _bundle(
        call,
        "CustomerProfileBundleSid",
        a2p_catalog.CUSTOMER_PROFILE,
        profile_policies,
        brand_type,
    )
    product_sid = _bundle(
        call, "A2PProfileBundleSid", a2p_catalog.TRUST_PRODUCT, (product_policy,), brand_type
    )
    mock = params.boolean("Mock") or False
    skip_vetting = params.boolean("SkipAutomaticSecVet") or False
    if call.store.count(
        BRAND,
        account_sids=[call.principal.account_sid],
        where=[("json_extract(doc, '$.a2p_profile_bundle_sid') = ?", (product_sid,))],
    ):
        raise TwilioError(409, 20409, f"A brand is already registered with {product_sid}")
    doc: dict[str, Any] = {
        "customer_profile_bundle_sid": profile_sid,
        "a2p_profile_bundle_sid": product_sid,
        "brand_type": brand_type,
        "tcr_id": tcr_id("B"),
        "failure_reason": None,
        "errors": [],
        "brand_score": None,
        "brand_feedback": None,
        "identity_status": "UNVERIFIED",
        "russell_3000": False,
        "government_entity": False,
        "tax_exempt_status": None,
        "skip_automatic_sec_vet": skip_vetting,
        "mock": mock,
        "resubmissions": 0,
        "otp_requests": 0,
    }
    record = call.emulator.create(BRAND, new_sid("BN"), call.principal.account_sid, doc)
    call.registrations.submit(record, "PENDING")
    call.store.save(record, at=record.date_created)
    return 201, render_brand(call, record)


def list_brands(call: Call) -> Reply:
    page = list_records(call, BRAND, account_sids=[call.principal.account_sid])
    return v1_list(call, "data", page, lambda r: render_brand(call, r))


def find_brand(call: Call, sid: str) -> Record:
    return call.find(BRAND, sid, "BN", account_sid=call.principal.account_sid)


def fetch(call: Call) -> Reply:
    return 200, render_brand(call, find_brand(call, call.path_params["Sid"]))


def resubmit(call: Call) -> Reply:
    record = find_brand(call, call.path_params["Sid"])
    if record.doc["status"] != "FAILED":
        raise bad_request(
            21725,
            f"Brand {record.sid} is {record.doc['status']}; only a FAILED brand can be updated",
        )
    if record.doc["resubmissions"] >= MAX_RESUBMISSIONS:
        raise bad_request(
            21724, f"Brand {record.sid} has reached its limit of {MAX_RESUBMISSIONS} updates"
        )
    record.doc.update(
        {"resubmissions": record.doc["resubmissions"] + 1, "errors": [], "failure_reason": None}
    )
    call.registrations.submit(record, "PENDING")
    call.store.save(record)
    return 202, render_brand(call, record)


# --- vettings and OTP -------------------------------------------------------------------------


def render_vetting(call: Call, record: Record) -> dict[str, Any]:
    doc = record.doc
    brand_sid = record.container_sid
    return {
        "account_sid": record.account_sid,
        "brand_sid": brand_sid,
        "brand_vetting_sid": record.sid,
        "date_updated": iso8601(record.date_updated),
        "date_created": iso8601(record.date_created),
        "vetting_id": doc["vetting_id"],
        "vetting_class": doc["vetting_class"],
        "vetting_status": doc["vetting_status"],
        "vetting_provider": doc["vetting_provider"],
        "url": call.absolute(f"/v1/a2p/BrandRegistrations/{brand_sid}/Vettings/{record.sid}"),
    }


def create_vetting(call: Call) -> Reply:
    brand = find_brand(call, call.path_params["BrandSid"])
    provider = call.params.choice("VettingProvider", VETTING_PROVIDERS)
    if provider is None:
        raise bad_request(20001, "Missing required parameter VettingProvider in the post body")
    vetting_id = call.params.text("VettingId") or None
    if provider == "campaign-verify" and vetting_id is None:
        raise bad_request(20001, "VettingId (the Campaign Verify token) is required")
    if brand.doc["status"] != "APPROVED":
        raise bad_request(
            20001, f"Brand {brand.sid} is {brand.doc['status']}; only an APPROVED brand is vetted"
        )
    doc = {
        "vetting_provider": provider,
        "vetting_id": vetting_id,
        # Campaign Verify tokens are issued to political campaigns (spec example).
        "vetting_class": "POLITICAL" if provider == "campaign-verify" else None,
        "vetting_status": "IN_PROGRESS",
    }
    record = call.emulator.create(
        "brand_vetting", new_sid("VT"), brand.account_sid, doc, container_sid=brand.sid
    )
    return 201, render_vetting(call, record)


def list_vettings(call: Call) -> Reply:
    brand = find_brand(call, call.path_params["BrandSid"])
    where: list[tuple[str, tuple[Any, ...]]] = []
    provider = call.params.choice("VettingProvider", VETTING_PROVIDERS)
    if provider is not None:
        where.append(("json_extract(doc, '$.vetting_provider') = ?", (provider,)))
    page = list_records(call, "brand_vetting", container_sid=brand.sid, where=where)
    return v1_list(call, "data", page, lambda r: render_vetting(call, r))


def fetch_vetting(call: Call) -> Reply:
    brand = find_brand(call, call.path_params["BrandSid"])
    record = call.find(
        "brand_vetting", call.path_params["BrandVettingSid"], "VT", container_sid=brand.sid
    )
    return 200, render_vetting(call, record)


def create_otp(call: Call) -> Reply:
    """Send the sole proprietor's mobile number its verification code again."""
    brand = find_brand(call, call.path_params["BrandRegistrationSid"])
    if brand.doc["brand_type"] != "SOLE_PROPRIETOR":
        raise bad_request(20001, f"Brand {brand.sid} is not a SOLE_PROPRIETOR brand")
    if brand.doc["status"] == "FAILED":
        raise bad_request(20001, f"Brand {brand.sid} is FAILED; resubmit it first")
    brand.doc["otp_requests"] += 1
    call.store.save(brand, at=brand.date_updated)
    return 201, {"account_sid": brand.account_sid, "brand_registration_sid": brand.sid}


_BASE = "/messaging/v1/a2p/BrandRegistrations"

# Restricted keys: Twilio publishes no permission names for A2P, so none is granted.
ENDPOINTS = (
    Endpoint(_BASE, (Operation("GET", list_brands, None), Operation("POST", create, None))),
    Endpoint(_BASE + "/{Sid}", (Operation("GET", fetch, None), Operation("POST", resubmit, None))),
    Endpoint(
        _BASE + "/{BrandSid}/Vettings",
        (Operation("GET", list_vettings, None), Operation("POST", create_vetting, None)),
    ),
    Endpoint(
        _BASE + "/{BrandSid}/Vettings/{BrandVettingSid}", (Operation("GET", fetch_vetting, None),)
    ),
    Endpoint(_BASE + "/{BrandRegistrationSid}/SmsOtp", (Operation("POST", create_otp, None),)),
)
