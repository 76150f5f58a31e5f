"""Helpers of the A2P tests: the admin controls, polling with a deadline, and the registration
chain an ISV builds in a customer's subaccount, step by step with the official client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from twilio.rest import Client

from tests.support.emulator_process import EmulatorProcess

PRIMARY_POLICY = "RN6433641899984f951173ef1738c3bdd0"
SECONDARY_POLICY = "RNdfbf3fae0e1107f8aded0e7cead80bf5"
A2P_POLICY = "RNb0d4771c2c98518d916a3d4cd70a8f8b"
STARTER_POLICY = "RN806dd6cd175f314e1f96a9727ee271f4"
SOLE_PROPRIETOR_POLICY = "RN670d5d2e282a6130ae063b234b6019c8"

BUSINESS = {
    "business_name": "Bayside Dental LLC",
    "business_identity": "direct_customer",
    "business_type": "Limited Liability Corporation",
    "business_industry": "HEALTHCARE",
    "business_registration_identifier": "EIN",
    "business_registration_number": "123456789",
    "business_regions_of_operation": "USA_AND_CANADA",
    "website_url": "https://bayside.example.com",
}
REPRESENTATIVE = {
    "first_name": "Dana",
    "last_name": "Reyes",
    "email": "dana@bayside.example.com",
    "phone_number": "+14155550100",
    "business_title": "Owner",
    "job_position": "CEO",
}
CAMPAIGN = {
    "description": "Appointment reminders and confirmations for patients of Bayside Dental.",
    "message_flow": "Patients opt in on the booking form at bayside.example.com by ticking a box.",
    "message_samples": [
        "Bayside Dental: your cleaning is tomorrow at 10:00. Reply C to confirm.",
        "Bayside Dental: thanks, your appointment is confirmed. Reply STOP to opt out.",
    ],
    "us_app_to_person_usecase": "ACCOUNT_NOTIFICATION",
    "has_embedded_links": False,
    "has_embedded_phone": False,
}
T = TypeVar("T")


def admin(emulator: EmulatorProcess, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{emulator.url}/_emulator/{path}", json=body, timeout=10)
    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def decide(
    emulator: EmulatorProcess, sid: str, action: str, error_code: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"action": action}
    if error_code is not None:
        body["error_code"] = error_code
    return admin(emulator, "POST", f"a2p/registrations/{sid}", body)


def seed_primary(emulator: EmulatorProcess, account_sid: str | None = None) -> str:
    body = {"account_sid": account_sid or emulator.account_sid}
    return admin(emulator, "POST", "a2p/primary-customer-profile", body)["sid"]


def wait_until(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 10.0) -> T:
    """Poll `read` until `done` holds; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"condition not met before the deadline: {value!r}"
        time.sleep(0.02)


def business_address(client: Client) -> str:
    return client.addresses.create(
        customer_name="Bayside Dental LLC",
        street="1 Harbor Way",
        city="San Francisco",
        region="CA",
        postal_code="94105",
        iso_country="US",
    ).sid


def secondary_profile(client: Client, primary_sid: str, *, complete: bool = True) -> str:
    """A draft secondary customer profile; `complete` assigns everything its policy needs."""
    hub = client.trusthub.v1
    profile = hub.customer_profiles.create(
        friendly_name="Bayside Dental", email="a2p@bayside.example.com", policy_sid=SECONDARY_POLICY
    )
    if complete:
        business = hub.end_users.create(
            friendly_name="business",
            type="customer_profile_business_information",
            attributes=BUSINESS,
        )
        representative = hub.end_users.create(
            friendly_name="rep", type="authorized_representative_1", attributes=REPRESENTATIVE
        )
        document = hub.supporting_documents.create(
            friendly_name="address",
            type="customer_profile_address",
            attributes={"address_sids": business_address(client)},
        )
        assignments = hub.customer_profiles(profile.sid).customer_profiles_entity_assignments
        for object_sid in (business.sid, representative.sid, document.sid, primary_sid):
            assignments.create(object_sid=object_sid)
    return profile.sid


def a2p_trust_product(client: Client, profile_sid: str) -> str:
    hub = client.trusthub.v1
    product = hub.trust_products.create(
        friendly_name="Bayside A2P", email="a2p@bayside.example.com", policy_sid=A2P_POLICY
    )
    info = hub.end_users.create(
        friendly_name="a2p",
        type="us_a2p_messaging_profile_information",
        attributes={"company_type": "private"},
    )
    assignments = hub.trust_products(product.sid).trust_products_entity_assignments
    for object_sid in (info.sid, profile_sid):
        assignments.create(object_sid=object_sid)
    return product.sid


@dataclass(frozen=True)
class Registration:
    profile_sid: str
    product_sid: str
    brand_sid: str


def approved_brand(emulator: EmulatorProcess, client: Client, primary_sid: str) -> Registration:
    """Both bundles submitted and approved, a STANDARD brand APPROVED (admin decisions)."""
    hub = client.trusthub.v1
    profile_sid = secondary_profile(client, primary_sid)
    hub.customer_profiles(profile_sid).update(status="pending-review")
    product_sid = a2p_trust_product(client, profile_sid)
    hub.trust_products(product_sid).update(status="pending-review")
    decide(emulator, profile_sid, "approve")
    decide(emulator, product_sid, "approve")
    brand = client.messaging.v1.brand_registrations.create(
        customer_profile_bundle_sid=profile_sid, a2p_profile_bundle_sid=product_sid
    )
    assert decide(emulator, brand.sid, "approve")["status"] == "APPROVED"
    return Registration(profile_sid, product_sid, brand.sid)
