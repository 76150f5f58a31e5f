"""Trust Hub through the official client: policies, end users, documents, bundles, the chain
from a subaccount's secondary profile to the parent's primary one, and the review lifecycle."""

from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.emulator.a2p_support import (
    A2P_POLICY,
    BUSINESS,
    PRIMARY_POLICY,
    REPRESENTATIVE,
    SECONDARY_POLICY,
    SOLE_PROPRIETOR_POLICY,
    STARTER_POLICY,
    a2p_trust_product,
    admin,
    business_address,
    decide,
    secondary_profile,
    seed_primary,
    wait_until,
)
from tests.emulator.conftest import Tenant
from tests.support.emulator_process import EmulatorProcess


def test_policies_are_twilios_fixed_ones(tenant: Tenant) -> None:
    hub = tenant.client.trusthub.v1
    sids = {p.sid for p in hub.policies.list()}
    assert {SECONDARY_POLICY, A2P_POLICY, STARTER_POLICY, SOLE_PROPRIETOR_POLICY} <= sids
    assert len(hub.policies.list(page_size=2)) == len(sids)  # paging follows next_page_url
    secondary = hub.policies(SECONDARY_POLICY).fetch()
    assert secondary.friendly_name == "Secondary Customer Profile of type Business"
    end_users = {e["type"] for e in secondary.requirements["end_user"]}
    assert {"customer_profile_business_information", "authorized_representative_1"} <= end_users
    profiles = secondary.requirements["supporting_customer_profiles"]
    assert profiles[0]["requirement_name"] == "primary_customer_profile"
    with pytest.raises(TwilioRestException) as error:
        hub.policies("RN" + "0" * 32).fetch()
    assert error.value.status == 404


def test_end_users_crud_and_paging(tenant: Tenant, parent: Client) -> None:
    hub = tenant.client.trusthub.v1
    made = [
        hub.end_users.create(
            friendly_name=f"rep {i}", type="authorized_representative_1", attributes=REPRESENTATIVE
        )
        for i in range(3)
    ]
    assert made[0].sid.startswith("IT") and made[0].attributes == REPRESENTATIVE
    assert made[0].url.endswith(f"/trusthub/v1/EndUsers/{made[0].sid}")
    listed = [e.sid for e in hub.end_users.stream(page_size=2)]
    assert listed == [e.sid for e in made]
    updated = hub.end_users(made[0].sid).update(friendly_name="renamed", attributes={"a": "b"})
    assert (updated.friendly_name, updated.attributes) == ("renamed", {"a": "b"})
    assert hub.end_users(made[0].sid).fetch().friendly_name == "renamed"
    # Another account's item looks exactly like an unknown one.
    with pytest.raises(TwilioRestException) as error:
        parent.trusthub.v1.end_users(made[1].sid).fetch()
    assert error.value.status == 404
    assert hub.end_users(made[2].sid).delete() is True
    with pytest.raises(TwilioRestException):
        hub.end_users(made[2].sid).fetch()


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"friendly_name": "x", "type": "astronaut"}, "not a valid End-User type"),
        ({"friendly_name": "", "type": "business"}, "FriendlyName"),
        ({"friendly_name": "x", "type": "business", "attributes": "[1]"}, "JSON object"),
    ],
)
def test_end_user_validation(tenant: Tenant, params: dict, fragment: str) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.trusthub.v1.end_users.create(**params)
    assert error.value.status == 400 and fragment in error.value.msg


def test_supporting_documents_crud(tenant: Tenant) -> None:
    hub = tenant.client.trusthub.v1
    address = business_address(tenant.client)
    document = hub.supporting_documents.create(
        friendly_name="hq", type="customer_profile_address", attributes={"address_sids": address}
    )
    assert document.sid.startswith("RD") and document.status == "DRAFT"
    assert document.mime_type is None and document.attributes == {"address_sids": address}
    assert [d.sid for d in hub.supporting_documents.list()] == [document.sid]
    assert hub.supporting_documents(document.sid).fetch().type == "customer_profile_address"
    renamed = hub.supporting_documents(document.sid).update(friendly_name="head office")
    assert renamed.friendly_name == "head office"
    with pytest.raises(TwilioRestException) as error:
        hub.supporting_documents.create(friendly_name="x", type="passport")
    assert error.value.status == 400
    assert hub.supporting_documents(document.sid).delete() is True


def test_evaluation_lists_the_failing_requirements(tenant: Tenant) -> None:
    hub = tenant.client.trusthub.v1
    profile = hub.customer_profiles.create(
        friendly_name="empty", email="a@example.com", policy_sid=SECONDARY_POLICY
    )
    assert (profile.status, profile.policy_sid, profile.errors) == ("draft", SECONDARY_POLICY, None)
    assert profile.links["customer_profiles_evaluations"].endswith(f"{profile.sid}/Evaluations")
    evaluation = hub.customer_profiles(profile.sid).customer_profiles_evaluations.create(
        policy_sid=SECONDARY_POLICY
    )
    assert evaluation.sid.startswith("EL") and evaluation.status == "noncompliant"
    failing = {r["requirement_name"]: r for r in evaluation.results if not r["passed"]}
    assert set(failing) == {
        "customer_profile_business_information",
        "authorized_representative_1",
        "customer_profile_address",
        "primary_customer_profile",
    }
    assert failing["customer_profile_business_information"]["error_code"] == 22214
    assert failing["customer_profile_address"]["error_code"] == 22216
    missing = {i["object_field"] for i in failing["authorized_representative_1"]["invalid"]}
    assert missing == set(REPRESENTATIVE)

    # A business end user with a field left out fails on that field alone.
    partial = hub.end_users.create(
        friendly_name="biz",
        type="customer_profile_business_information",
        attributes={k: v for k, v in BUSINESS.items() if k != "website_url"},
    )
    hub.customer_profiles(profile.sid).customer_profiles_entity_assignments.create(
        object_sid=partial.sid
    )
    again = hub.customer_profiles(profile.sid).customer_profiles_evaluations.create(
        policy_sid=SECONDARY_POLICY
    )
    business = next(
        r for r in again.results if r["requirement_name"] == "customer_profile_business_information"
    )
    assert business["passed"] is False and business["error_code"] == 22215
    assert [i["object_field"] for i in business["invalid"]] == ["website_url"]
    evaluations = hub.customer_profiles(profile.sid).customer_profiles_evaluations.list()
    assert [e.sid for e in evaluations] == [evaluation.sid, again.sid]
    fetched = hub.customer_profiles(profile.sid).customer_profiles_evaluations(again.sid).fetch()
    assert fetched.status == "noncompliant"
    # A draft's assignment is removed again.
    assignments = hub.customer_profiles(profile.sid).customer_profiles_entity_assignments
    (only,) = assignments.list()
    assert assignments(only.sid).delete() is True and assignments.list() == []


def test_submission_needs_a_passing_evaluation(
    emulator: EmulatorProcess, parent: Client, tenant: Tenant
) -> None:
    hub = tenant.client.trusthub.v1
    primary = seed_primary(emulator, parent.account_sid)
    incomplete = secondary_profile(tenant.client, primary, complete=False)
    with pytest.raises(TwilioRestException) as error:
        hub.customer_profiles(incomplete).update(status="pending-review")
    assert error.value.status == 400 and error.value.code == 22214
    assert "authorized_representative_1" in error.value.msg
    assert hub.customer_profiles(incomplete).fetch().status == "draft"

    profile = secondary_profile(tenant.client, primary)
    submitted = hub.customer_profiles(profile).update(status="pending-review")
    assert submitted.status == "pending-review"
    results = hub.customer_profiles(profile).customer_profiles_evaluations.list()
    assert [e.status for e in results] == ["compliant"]
    # Only pending-review can be asked for; the review decides the rest.
    with pytest.raises(TwilioRestException) as error:
        hub.customer_profiles(profile).update(status="twilio-approved")
    assert error.value.status == 400
    # A submitted bundle's assignments are locked.
    assignments = hub.customer_profiles(profile).customer_profiles_entity_assignments
    with pytest.raises(TwilioRestException):
        assignments(assignments.list()[0].sid).delete()


def test_secondary_profile_references_the_parents_approved_primary(
    emulator: EmulatorProcess,
    parent: Client,
    make_tenant,
) -> None:
    tenant = make_tenant("customer")
    primary = seed_primary(emulator, parent.account_sid)
    assignments_of = tenant.client.trusthub.v1.customer_profiles

    profile = secondary_profile(tenant.client, primary)
    assignment = assignments_of(profile).customer_profiles_entity_assignments.list()[-1]
    assert assignment.object_sid == primary and assignment.sid.startswith("BV")
    fetched = assignments_of(profile).customer_profiles_entity_assignments(assignment.sid).fetch()
    assert fetched.customer_profile_sid == profile
    only_profiles = assignments_of(profile).customer_profiles_entity_assignments.list(
        object_type="customer_profile"
    )
    assert [a.object_sid for a in only_profiles] == [primary]

    # Only the parent's primary profile can be named: not one held by a sibling account.
    sibling = make_tenant("sibling")
    foreign_primary = seed_primary(emulator, sibling.sid)
    with pytest.raises(TwilioRestException) as error:
        assignments_of(profile).customer_profiles_entity_assignments.create(
            object_sid=foreign_primary
        )
    assert error.value.status == 400 and foreign_primary in error.value.msg

    # A primary profile that is not approved fails the evaluation.
    draft_primary = parent.trusthub.v1.customer_profiles.create(
        friendly_name="isv", email="isv@example.com", policy_sid=PRIMARY_POLICY
    )
    second = secondary_profile(tenant.client, draft_primary.sid)
    evaluation = assignments_of(second).customer_profiles_evaluations.create(
        policy_sid=SECONDARY_POLICY
    )
    primary_result = next(
        r for r in evaluation.results if r["requirement_name"] == "primary_customer_profile"
    )
    assert (
        evaluation.status == "noncompliant"
        and "twilio-approved" in primary_result["failure_reason"]
    )


def test_review_moves_on_its_own(emulator: EmulatorProcess, parent: Client, tenant: Tenant) -> None:
    emulator.set_faults(registration_step_ms=20)
    hub = tenant.client.trusthub.v1
    profile = secondary_profile(tenant.client, seed_primary(emulator, parent.account_sid))
    hub.customer_profiles(profile).update(status="pending-review")
    seen: list[str] = []

    def status() -> str:
        current = hub.customer_profiles(profile).fetch().status
        if not seen or seen[-1] != current:
            seen.append(current)
        return current

    approved = wait_until(status, lambda s: s == "twilio-approved")
    assert approved == "twilio-approved" and seen[-1] == "twilio-approved"
    assert set(seen) <= {"pending-review", "in-review", "twilio-approved"}
    assert hub.customer_profiles(profile).fetch().valid_until is not None
    listed = hub.customer_profiles.list(status="twilio-approved")
    assert profile in [p.sid for p in listed]


def test_admin_holds_rejects_and_approves(
    emulator: EmulatorProcess, parent: Client, tenant: Tenant
) -> None:
    emulator.set_faults(registration_step_ms=20)
    hub = tenant.client.trusthub.v1
    profile = secondary_profile(tenant.client, seed_primary(emulator, parent.account_sid))
    held = decide(emulator, profile, "hold")
    assert held["held"] is True
    hub.customer_profiles(profile).update(status="pending-review")
    state = admin(emulator, "GET", f"a2p/registrations/{profile}")
    assert state["status"] == "pending-review" and state["next_step_due_ms"] is None

    rejected = decide(emulator, profile, "reject", 18601)
    assert rejected["status"] == "twilio-rejected"
    fetched = hub.customer_profiles(profile).fetch()
    assert fetched.status == "twilio-rejected" and fetched.errors == [{"code": 18601}]
    # A rejected bundle is edited and submitted again; this time the admin approves it.
    decide(emulator, profile, "hold")
    assert hub.customer_profiles(profile).update(status="pending-review").status == "pending-review"
    assert decide(emulator, profile, "approve")["status"] == "twilio-approved"
    assert hub.customer_profiles(profile).fetch().errors is None

    reasons = admin(emulator, "GET", "a2p/failure-reasons")
    assert {r["code"] for r in reasons["campaign"]} >= {30909}
    bad = requests.post(
        f"{emulator.url}/_emulator/a2p/registrations/{profile}",
        json={"action": "reject", "error_code": 30909},
        timeout=5,
    )
    assert bad.status_code == 400 and "not a bundle failure reason" in bad.json()["error"]
    unknown = requests.get(f"{emulator.url}/_emulator/a2p/registrations/BU{'0' * 32}", timeout=5)
    assert unknown.status_code == 404


def test_trust_product_follows_the_same_rules(
    emulator: EmulatorProcess, parent: Client, tenant: Tenant
) -> None:
    hub = tenant.client.trusthub.v1
    profile = secondary_profile(tenant.client, seed_primary(emulator, parent.account_sid))
    empty = hub.trust_products.create(
        friendly_name="a2p", email="a@example.com", policy_sid=A2P_POLICY
    )
    assert empty.links["trust_products_entity_assignments"].endswith("/EntityAssignments")
    evaluation = hub.trust_products(empty.sid).trust_products_evaluations.create(
        policy_sid=A2P_POLICY
    )
    assert evaluation.status == "noncompliant" and evaluation.trust_product_sid == empty.sid
    evaluations = hub.trust_products(empty.sid).trust_products_evaluations
    assert [e.sid for e in evaluations.list()] == [evaluation.sid]
    assert evaluations(evaluation.sid).fetch().policy_sid == A2P_POLICY
    # A draft's assignments come and go.
    stray = hub.end_users.create(friendly_name="stray", type="business", attributes={})
    assignments = hub.trust_products(empty.sid).trust_products_entity_assignments
    assignment = assignments.create(object_sid=stray.sid)
    assert assignments(assignment.sid).fetch().object_sid == stray.sid
    assert assignments(assignment.sid).delete() is True
    assert assignments.list() == []
    with pytest.raises(TwilioRestException):
        hub.trust_products(empty.sid).update(status="pending-review")

    product = a2p_trust_product(tenant.client, profile)
    assert hub.trust_products(product).update(status="pending-review").status == "pending-review"
    listed = hub.trust_products(product).trust_products_entity_assignments.list()
    assert len(listed) == 2 and listed[0].trust_product_sid == product
    with pytest.raises(TwilioRestException) as error:
        hub.trust_products.create(
            friendly_name="x", email="x@example.com", policy_sid=SECONDARY_POLICY
        )
    assert error.value.status == 400 and "TrustProducts policy" in error.value.msg
    assert hub.trust_products(product).fetch().status == "pending-review"
    assert {p.sid for p in hub.trust_products.list()} == {empty.sid, product}
    assert [p.sid for p in hub.trust_products.list(status="pending-review")] == [product]
    assert hub.trust_products(empty.sid).delete() is True


def test_public_company_needs_its_stock_listing(
    emulator: EmulatorProcess, parent: Client, tenant: Tenant
) -> None:
    hub = tenant.client.trusthub.v1
    profile = secondary_profile(tenant.client, seed_primary(emulator, parent.account_sid))
    product = hub.trust_products.create(
        friendly_name="a2p", email="a@example.com", policy_sid=A2P_POLICY
    )
    info = hub.end_users.create(
        friendly_name="a2p",
        type="us_a2p_messaging_profile_information",
        attributes={"company_type": "public"},
    )
    for sid in (info.sid, profile):
        hub.trust_products(product.sid).trust_products_entity_assignments.create(object_sid=sid)
    evaluation = hub.trust_products(product.sid).trust_products_evaluations.create(
        policy_sid=A2P_POLICY
    )
    failing = [i["object_field"] for r in evaluation.results for i in r["invalid"]]
    assert failing == ["stock_exchange", "stock_ticker"]


def test_bundle_errors_and_paging(tenant: Tenant) -> None:
    hub = tenant.client.trusthub.v1
    with pytest.raises(TwilioRestException) as error:
        hub.customer_profiles.create(
            friendly_name="x", email="x@example.com", policy_sid=A2P_POLICY
        )
    assert error.value.status == 400 and "CustomerProfiles policy" in error.value.msg
    made = [
        hub.customer_profiles.create(
            friendly_name=f"p{i}", email="p@example.com", policy_sid=SECONDARY_POLICY
        ).sid
        for i in range(3)
    ]
    assert [p.sid for p in hub.customer_profiles.stream(page_size=2)] == made
    assert [p.sid for p in hub.customer_profiles.list(friendly_name="p1")] == [made[1]]
    with pytest.raises(TwilioRestException) as error:
        hub.customer_profiles(made[0]).customer_profiles_entity_assignments.create(
            object_sid="IT" + "0" * 32
        )
    assert error.value.status == 400
    with pytest.raises(TwilioException):  # a list answer that is not 200 breaks the page read
        hub.customer_profiles.list(status="approved")
    assert hub.customer_profiles(made[0]).delete() is True
    with pytest.raises(TwilioRestException) as error:
        hub.customer_profiles(made[0]).fetch()
    assert error.value.status == 404
