"""Evaluate a Trust Hub bundle against its policy, the way Twilio's Evaluations report it.

One result per requirement of the policy: an End-User of a required type with every required
attribute, a supporting document of an accepted type whose `address_sids` name Addresses of
the bundle's account, and the supporting customer profiles the policy asks for (a secondary
profile needs the ISV's twilio-approved primary profile, which lives on the parent account).
Error codes are those of Twilio's Evaluation example: 22214 a missing End-User, 22215 a
missing End-User field, 22216 a missing document or profile, 22219 a missing address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator import a2p_catalog
from emulator.store import Record, Store
from emulator.wire import is_sid

MISSING_END_USER = 22214
MISSING_FIELD = 22215
MISSING_DOCUMENT = 22216
MISSING_ADDRESS = 22219


@dataclass(frozen=True)
class Evaluation:
    status: str  # compliant | noncompliant
    results: list[dict[str, Any]]

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [result for result in self.results if not result["passed"]]


def _title(field_name: str) -> str:
    return field_name.replace("_", " ").title().replace("Url", "URL").replace("Sids", "sid(s)")


def _result(
    requirement: str,
    requirement_friendly: str,
    object_type: str,
    friendly: str,
    *,
    failure: str | None,
    code: int | None,
    valid: list[dict[str, Any]],
    invalid: list[dict[str, Any]],
) -> dict[str, Any]:
    passed = failure is None and not invalid
    if failure is None and invalid:
        failure, code = invalid[0]["failure_reason"], invalid[0]["error_code"]
    return {
        "friendly_name": friendly,
        "object_type": object_type,
        "passed": passed,
        "failure_reason": None if passed else failure,
        "error_code": None if passed else code,
        "valid": valid,
        "invalid": invalid,
        "requirement_friendly_name": requirement_friendly,
        "requirement_name": requirement,
    }


def _is_set(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, list | dict):
        return bool(value)
    return value is not None


def _end_user_result(item_type: a2p_catalog.ItemType, end_user: Record | None) -> dict[str, Any]:
    required = list(item_type.required)
    values: dict[str, Any] = end_user.doc["attributes"] if end_user else {}
    if (
        item_type.name == "us_a2p_messaging_profile_information"
        and str(values.get("company_type", "")).lower() == "public"
    ):
        required += a2p_catalog.PUBLIC_COMPANY_FIELDS
    valid, invalid = [], []
    for name in required:
        entry = {"friendly_name": _title(name), "object_field": name}
        if _is_set(values.get(name)):
            valid.append(entry)
        else:
            invalid.append(
                {
                    **entry,
                    "failure_reason": f"The {_title(name)} is missing. Please enter in a"
                    f" {_title(name)} on the {item_type.friendly_name}.",
                    "error_code": MISSING_FIELD,
                }
            )
    failure = None
    if end_user is None:
        failure = f"A {item_type.friendly_name} End-User is missing. Please add one to the bundle."
    return _result(
        item_type.name,
        item_type.friendly_name,
        item_type.name,
        item_type.friendly_name,
        failure=failure,
        code=MISSING_END_USER,
        valid=valid,
        invalid=invalid,
    )


def _address_sids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(part) for part in value]
    return []


def _document_result(
    store: Store, bundle: Record, requirement: str, name: str, types: tuple[str, ...], documents
) -> dict[str, Any]:
    document = next((d for d in documents if d.doc["type"] in types), None)
    if document is None:
        return _result(
            requirement,
            name,
            types[0],
            name,
            failure=f"A {name} is missing. Please add one to the bundle.",
            code=MISSING_DOCUMENT,
            valid=[],
            invalid=[],
        )
    sids = _address_sids(document.doc["attributes"].get("address_sids"))
    addresses = [store.get(sid, "address") for sid in sids if is_sid(sid, "AD")]
    good = (
        bool(sids)
        and all(a is not None and a.account_sid == bundle.account_sid for a in addresses)
        and len(addresses) == len(sids)
    )
    entry = {"friendly_name": "Address sid(s)", "object_field": "address_sids"}
    invalid = []
    if not good:
        invalid.append(
            {
                **entry,
                "failure_reason": f"The Address is missing. Please enter in the address of"
                f" the {name}: Address SIDs of this account.",
                "error_code": MISSING_ADDRESS,
            }
        )
    return _result(
        requirement,
        name,
        document.doc["type"],
        name,
        failure=None,
        code=None,
        valid=[] if invalid else [entry],
        invalid=invalid,
    )


def _profile_result(
    requirement: a2p_catalog.ProfileRequirement, profiles: list[Record]
) -> dict[str, Any]:
    profile = next((p for p in profiles if p.doc["policy_sid"] in requirement.policies), None)
    failure = None
    if profile is None:
        failure = f"A {requirement.name} is missing. Please add one to the bundle."
    elif requirement.must_be_approved and profile.doc["status"] != "twilio-approved":
        failure = (
            f"The {requirement.name} {profile.sid} is {profile.doc['status']}; it must be"
            " twilio-approved."
        )
    return _result(
        requirement.requirement_name,
        requirement.name,
        requirement.type,
        requirement.name,
        failure=failure,
        code=MISSING_DOCUMENT,
        valid=[],
        invalid=[],
    )


def evaluate(store: Store, bundle: Record, policy: a2p_catalog.Policy) -> Evaluation:
    objects = [
        store.get(a.doc["object_sid"], a.doc["object_kind"])
        for a in store.select("bundle_assignment", container_sid=bundle.sid)
    ]
    assigned = [o for o in objects if o is not None]
    end_users = [o for o in assigned if o.kind == "end_user"]
    documents = [o for o in assigned if o.kind == "supporting_document"]
    profiles = [o for o in assigned if o.kind == a2p_catalog.CUSTOMER_PROFILE]
    results = []
    for type_name in policy.end_users:
        match = next((e for e in end_users if e.doc["type"] == type_name), None)
        results.append(_end_user_result(a2p_catalog.END_USER_TYPES[type_name], match))
    for type_name in policy.optional_end_users:
        match = next((e for e in end_users if e.doc["type"] == type_name), None)
        if match is not None:  # optional, but checked like the others once it is there
            results.append(_end_user_result(a2p_catalog.END_USER_TYPES[type_name], match))
    for requirement, name, types in policy.documents:
        results.append(_document_result(store, bundle, requirement, name, types, documents))
    for profile_requirement in policy.profiles:
        results.append(_profile_result(profile_requirement, profiles))
    compliant = all(result["passed"] for result in results)
    return Evaluation("compliant" if compliant else "noncompliant", results)
