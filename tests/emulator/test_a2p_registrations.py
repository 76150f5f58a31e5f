"""A2P brands and campaigns through the official client: what each takes, the chain Twilio
enforces, the review lifecycle (on its own and by admin decision) and campaign updates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.emulator.a2p_support import (
    CAMPAIGN,
    SOLE_PROPRIETOR_POLICY,
    STARTER_POLICY,
    a2p_trust_product,
    admin,
    approved_brand,
    business_address,
    decide,
    secondary_profile,
    seed_primary,
    wait_until,
)
from tests.emulator.conftest import Tenant
from tests.support.emulator_process import EmulatorProcess


@pytest.fixture
def primary(emulator: EmulatorProcess, parent: Client) -> str:
    return seed_primary(emulator, parent.account_sid)


def test_brand_takes_the_two_submitted_bundles(
    emulator: EmulatorProcess, tenant: Tenant, primary: str
) -> None:
    client = tenant.client
    brands = client.messaging.v1.brand_registrations
    profile = secondary_profile(client, primary)
    product = a2p_trust_product(client, profile)
    with pytest.raises(TwilioRestException) as error:
        brands.create(customer_profile_bundle_sid=profile, a2p_profile_bundle_sid=product)
    assert error.value.status == 400 and "pending-review" in error.value.msg
    client.trusthub.v1.customer_profiles(profile).update(status="pending-review")
    client.trusthub.v1.trust_products(product).update(status="pending-review")
    with pytest.raises(TwilioRestException) as error:  # the bundles swapped
        brands.create(customer_profile_bundle_sid=product, a2p_profile_bundle_sid=profile)
    assert error.value.status == 400
    with pytest.raises(TwilioRestException) as error:  # a standard pair is not a sole proprietor
        brands.create(
            customer_profile_bundle_sid=profile,
            a2p_profile_bundle_sid=product,
            brand_type="SOLE_PROPRIETOR",
        )
    assert error.value.status == 400 and STARTER_POLICY in error.value.msg

    brand = brands.create(
        customer_profile_bundle_sid=profile, a2p_profile_bundle_sid=product, mock=True
    )
    assert brand.sid.startswith("BN") and brand.status == "PENDING"
    assert (brand.brand_type, brand.mock, brand.skip_automatic_sec_vet) == ("STANDARD", True, False)
    assert brand.tcr_id.startswith("B") and len(brand.tcr_id) == 7
    assert brand.links["brand_vettings"] == f"{brand.url}/Vettings"
    assert [b.sid for b in brands.list()] == [brand.sid]
    with pytest.raises(TwilioRestException) as error:  # one brand per A2P trust product
        brands.create(customer_profile_bundle_sid=profile, a2p_profile_bundle_sid=product)
    assert error.value.status == 409


def test_brand_waits_for_its_bundles_then_approves_itself(
    emulator: EmulatorProcess, tenant: Tenant, primary: str
) -> None:
    emulator.set_faults(registration_step_ms=20)
    client = tenant.client
    profile = secondary_profile(client, primary)
    product = a2p_trust_product(client, profile)
    decide(emulator, profile, "hold")
    client.trusthub.v1.customer_profiles(profile).update(status="pending-review")
    client.trusthub.v1.trust_products(product).update(status="pending-review")
    brand = client.messaging.v1.brand_registrations.create(
        customer_profile_bundle_sid=profile, a2p_profile_bundle_sid=product
    )
    # The brand's review steps come and go while the held profile keeps it PENDING.
    first = admin(emulator, "GET", f"a2p/registrations/{brand.sid}")["next_step_due_ms"]
    later = wait_until(
        lambda: admin(emulator, "GET", f"a2p/registrations/{brand.sid}"),
        lambda s: s["next_step_due_ms"] not in (None, first),
    )
    assert later["status"] == "PENDING"
    decide(emulator, profile, "resume")
    approved = wait_until(
        lambda: client.messaging.v1.brand_registrations(brand.sid).fetch(),
        lambda b: b.status == "APPROVED",
    )
    assert approved.identity_status == "VERIFIED" and approved.errors == []


def test_failed_brand_resubmits_at_most_three_times(
    emulator: EmulatorProcess, tenant: Tenant, primary: str
) -> None:
    registration = approved_brand(emulator, tenant.client, primary)
    brand = tenant.client.messaging.v1.brand_registrations(registration.brand_sid)
    with pytest.raises(TwilioRestException) as error:
        brand.update()
    assert (error.value.status, error.value.code) == (400, 21725)
    for _ in range(3):
        decide(emulator, registration.brand_sid, "reject", 21736)
        failed = brand.fetch()
        assert failed.status == "FAILED" and failed.errors[0]["code"] == 21736
        assert failed.failure_reason == "The Brand contact email is invalid."
        resubmitted = brand.update()
        assert resubmitted.status == "PENDING" and resubmitted.errors == []
    decide(emulator, registration.brand_sid, "reject")
    with pytest.raises(TwilioRestException) as error:
        brand.update()
    assert (error.value.status, error.value.code) == (400, 21724)


def test_vettings_and_sms_otp(emulator: EmulatorProcess, tenant: Tenant, primary: str) -> None:
    registration = approved_brand(emulator, tenant.client, primary)
    brand = tenant.client.messaging.v1.brand_registrations(registration.brand_sid)
    vetting = brand.brand_vettings.create(vetting_provider="aegis")
    assert vetting.brand_vetting_sid.startswith("VT") and vetting.vetting_status == "IN_PROGRESS"
    assert brand.brand_vettings(vetting.brand_vetting_sid).fetch().vetting_provider == "aegis"
    token = brand.brand_vettings.create(vetting_provider="campaign-verify", vetting_id="cv|1.0|x")
    assert token.vetting_class == "POLITICAL"
    assert [v.vetting_provider for v in brand.brand_vettings.list()] == ["aegis", "campaign-verify"]
    assert len(brand.brand_vettings.list(vetting_provider="aegis")) == 1
    with pytest.raises(TwilioRestException) as error:
        brand.brand_vettings.create(vetting_provider="campaign-verify")
    assert error.value.status == 400
    with pytest.raises(TwilioRestException) as error:  # OTPs are for sole proprietors
        brand.brand_registration_otps.create()
    assert error.value.status == 400


def test_sole_proprietor_brand_and_its_single_campaign(
    emulator: EmulatorProcess, tenant: Tenant, primary: str
) -> None:
    client, hub = tenant.client, tenant.client.trusthub.v1
    starter = hub.customer_profiles.create(
        friendly_name="Dana Reyes", email="dana@example.com", policy_sid=STARTER_POLICY
    )
    info = hub.end_users.create(
        friendly_name="dana",
        type="starter_customer_profile_information",
        attributes={
            "first_name": "Dana",
            "last_name": "Reyes",
            "email": "dana@example.com",
            "phone_number": "+14155550101",
        },
    )
    document = hub.supporting_documents.create(
        friendly_name="home",
        type="starter_customer_profile_address",
        attributes={"address_sids": [business_address(client)]},
    )
    for sid in (info.sid, document.sid, primary):
        hub.customer_profiles(starter.sid).customer_profiles_entity_assignments.create(
            object_sid=sid
        )
    hub.customer_profiles(starter.sid).update(status="pending-review")
    product = hub.trust_products.create(
        friendly_name="sole prop", email="dana@example.com", policy_sid=SOLE_PROPRIETOR_POLICY
    )
    owner = hub.end_users.create(
        friendly_name="owner",
        type="sole_proprietor_information",
        attributes={
            "brand_name": "Dana Tutoring",
            "mobile_phone_number": "+14155550102",
            "vertical": "EDUCATION",
        },
    )
    for sid in (owner.sid, starter.sid):
        hub.trust_products(product.sid).trust_products_entity_assignments.create(object_sid=sid)
    hub.trust_products(product.sid).update(status="pending-review")
    brand = client.messaging.v1.brand_registrations.create(
        customer_profile_bundle_sid=starter.sid,
        a2p_profile_bundle_sid=product.sid,
        brand_type="SOLE_PROPRIETOR",
    )
    otp = client.messaging.v1.brand_registrations(brand.sid).brand_registration_otps.create()
    assert otp.brand_registration_sid == brand.sid and otp.account_sid == tenant.sid
    decide(emulator, brand.sid, "approve")
    first = client.messaging.v1.services.create(friendly_name="tutoring")
    second = client.messaging.v1.services.create(friendly_name="more")
    usecases = first.us_app_to_person_usecases.fetch(brand_registration_sid=brand.sid)
    assert [u["code"] for u in usecases.us_app_to_person_usecases] == ["SOLE_PROPRIETOR"]
    params = {**CAMPAIGN, "us_app_to_person_usecase": "SOLE_PROPRIETOR"}
    with pytest.raises(TwilioRestException) as error:
        client.messaging.v1.services(first.sid).us_app_to_person.create(
            brand_registration_sid=brand.sid, **CAMPAIGN
        )
    assert error.value.status == 400 and "SOLE_PROPRIETOR" in error.value.msg
    client.messaging.v1.services(first.sid).us_app_to_person.create(
        brand_registration_sid=brand.sid, **params
    )
    with pytest.raises(TwilioRestException) as error:
        client.messaging.v1.services(second.sid).us_app_to_person.create(
            brand_registration_sid=brand.sid, **params
        )
    assert error.value.status == 409


def test_campaign_needs_an_approved_brand_and_its_own_service(
    emulator: EmulatorProcess, tenant: Tenant, make_tenant, primary: str
) -> None:
    client = tenant.client
    registration = approved_brand(emulator, client, primary)
    service = client.messaging.v1.services.create(friendly_name="reminders")
    campaigns = client.messaging.v1.services(service.sid).us_app_to_person
    decide(emulator, registration.brand_sid, "reject")
    with pytest.raises(TwilioRestException) as error:
        campaigns.create(brand_registration_sid=registration.brand_sid, **CAMPAIGN)
    assert (error.value.status, error.value.code) == (400, 21717)
    decide(emulator, registration.brand_sid, "approve")
    # A service of another account is not found from here.
    other = make_tenant("other").client.messaging.v1.services.create(friendly_name="theirs")
    with pytest.raises(TwilioRestException) as error:
        client.messaging.v1.services(other.sid).us_app_to_person.create(
            brand_registration_sid=registration.brand_sid, **CAMPAIGN
        )
    assert error.value.status == 404
    with pytest.raises(TwilioRestException) as error:
        campaigns.create(
            brand_registration_sid=registration.brand_sid, **{**CAMPAIGN, "description": "short"}
        )
    assert error.value.status == 400 and "Description" in error.value.msg

    campaign = campaigns.create(brand_registration_sid=registration.brand_sid, **CAMPAIGN)
    assert campaign.sid.startswith("QE") and campaign.campaign_status == "PENDING"
    assert campaign.messaging_service_sid == service.sid
    assert campaign.message_samples == CAMPAIGN["message_samples"]
    assert campaign.url.endswith(
        f"/messaging/v1/Services/{service.sid}/Compliance/Usa2p/{campaign.sid}"
    )
    with pytest.raises(TwilioRestException) as error:  # one campaign per service
        campaigns.create(brand_registration_sid=registration.brand_sid, **CAMPAIGN)
    assert error.value.status == 409
    assert [c.sid for c in campaigns.list()] == [campaign.sid]
    assert campaigns(campaign.sid).fetch().us_app_to_person_usecase == "ACCOUNT_NOTIFICATION"
    codes = {u["code"] for u in service.us_app_to_person_usecases.fetch().us_app_to_person_usecases}
    assert {"2FA", "MARKETING", "ACCOUNT_NOTIFICATION"} <= codes


def test_campaign_verifies_itself_and_registers_the_service(
    emulator: EmulatorProcess, tenant: Tenant, primary: str
) -> None:
    client = tenant.client
    registration = approved_brand(emulator, client, primary)
    service = client.messaging.v1.services.create(friendly_name="reminders")
    assert service.us_app_to_person_registered is False
    emulator.set_faults(registration_step_ms=20)
    campaign = client.messaging.v1.services(service.sid).us_app_to_person.create(
        brand_registration_sid=registration.brand_sid, **CAMPAIGN
    )
    seen: set[str] = set()

    def status() -> str:
        seen.add(
            current := client.messaging.v1.services(service.sid)
            .us_app_to_person(campaign.sid)
            .fetch()
            .campaign_status
        )
        return current

    wait_until(status, lambda s: s == "VERIFIED")
    assert seen <= {"PENDING", "IN_PROGRESS", "VERIFIED"}
    assert client.messaging.v1.services(service.sid).fetch().us_app_to_person_registered is True
    verified = client.messaging.v1.services(service.sid).us_app_to_person(campaign.sid).fetch()
    assert verified.rate_limits["att"]["mps"] == 600
    decide(emulator, campaign.sid, "reject", 30886)
    assert client.messaging.v1.services(service.sid).fetch().us_app_to_person_registered is False


def test_campaign_rejection_and_updates(
    emulator: EmulatorProcess, tenant: Tenant, primary: str
) -> None:
    client = tenant.client
    registration = approved_brand(emulator, client, primary)
    service = client.messaging.v1.services.create(friendly_name="reminders")
    campaigns = client.messaging.v1.services(service.sid).us_app_to_person
    campaign = campaigns.create(brand_registration_sid=registration.brand_sid, **CAMPAIGN)
    decide(emulator, campaign.sid, "reject", 30909)
    failed = campaigns(campaign.sid).fetch()
    assert failed.campaign_status == "FAILED"
    assert failed.errors == [
        {
            "code": 30909,
            "description": "The Call-to-Action / Message Flow cannot be verified by reviewers.",
            "fields": ["MESSAGE_FLOW"],
        }
    ]
    changes = {
        "has_embedded_links": True,
        "has_embedded_phone": False,
        "message_samples": CAMPAIGN["message_samples"],
        "message_flow": "Patients opt in at the front desk on a signed form and on the website.",
        "description": CAMPAIGN["description"],
        "age_gated": False,
        "direct_lending": False,
    }
    updated = campaigns(campaign.sid).update(**changes)
    assert updated.message_flow == changes["message_flow"] and updated.has_embedded_links is True

    # Anything but the seven updatable fields is refused, naming the field.
    auth = (tenant.sid, tenant.auth_token)
    url = f"{emulator.url}/messaging/v1/Services/{service.sid}/Compliance/Usa2p/{campaign.sid}"
    form = {
        "HasEmbeddedLinks": "true",
        "HasEmbeddedPhone": "false",
        "MessageSamples": CAMPAIGN["message_samples"],
        "MessageFlow": changes["message_flow"],
        "Description": CAMPAIGN["description"],
        "AgeGated": "false",
        "DirectLending": "false",
    }
    refused = requests.post(
        url, data={**form, "UsAppToPersonUsecase": "MARKETING"}, auth=auth, timeout=5
    )
    assert refused.status_code == 400 and "UsAppToPersonUsecase" in refused.json()["message"]
    missing = requests.post(
        url, data={k: v for k, v in form.items() if k != "AgeGated"}, auth=auth, timeout=5
    )
    assert missing.status_code == 400 and "AgeGated" in missing.json()["message"]
    assert campaigns(campaign.sid).fetch().us_app_to_person_usecase == "ACCOUNT_NOTIFICATION"

    assert campaigns(campaign.sid).delete() is True
    assert campaigns.list() == []
    again = campaigns.create(brand_registration_sid=registration.brand_sid, **CAMPAIGN)
    assert again.sid != campaign.sid
    client.messaging.v1.services(service.sid).delete()
    state = requests.get(f"{emulator.url}/_emulator/a2p/registrations/{again.sid}", timeout=5)
    assert state.status_code == 404  # the campaign went with its service


def test_reviews_resume_after_a_kill(tmp_path: Path, client_for: Callable[..., Client]) -> None:
    """Due review steps are stored: a killed emulator picks them up, holds included."""
    with EmulatorProcess(tmp_path, extra_args=["--registration-step-ms", "300"]) as process:
        parent = client_for(process)
        sub = parent.api.v2010.accounts.create(friendly_name="durable")
        tenant = client_for(process, sub.sid, sub.auth_token)
        primary = seed_primary(process, parent.account_sid)
        moving = secondary_profile(tenant, primary)
        held = secondary_profile(tenant, primary)
        decide(process, held, "hold")
        for sid in (moving, held):
            tenant.trusthub.v1.customer_profiles(sid).update(status="pending-review")
        process.restart(hard=True)
        tenant = client_for(process, sub.sid, sub.auth_token)
        approved = wait_until(
            lambda: tenant.trusthub.v1.customer_profiles(moving).fetch(),
            lambda p: p.status == "twilio-approved",
        )
        assert approved.valid_until is not None
        state = admin(process, "GET", f"a2p/registrations/{held}")
        assert (state["status"], state["held"]) == ("pending-review", True)
