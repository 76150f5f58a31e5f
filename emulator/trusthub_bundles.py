"""Trust Hub v1 bundles: CustomerProfiles and TrustProducts, their EntityAssignments and
Evaluations.

Both families behave alike (Twilio calls both "bundles", SID prefix BU): a bundle is made in
`draft` against one of the fixed policies, End-Users, supporting documents and supporting
customer profiles are assigned to it while it is a draft (or rejected), and it moves to
`pending-review` only through an Evaluation that passes: the submission runs one and is refused
with the failing requirements otherwise. Review then runs on its own (`registrations`).

A bundle belongs to the signing account; the one cross-account reference Twilio allows is a
subaccount's secondary (or starter) profile naming its parent's primary customer profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator import a2p_catalog
from emulator.pages import list_records, v1_list
from emulator.runtime import Call, Endpoint, Handler, Operation, Reply
from emulator.store import Record
from emulator.trusthub_evaluation import evaluate
from emulator.wire import TwilioError, bad_request, is_sid, iso8601, new_sid

EDITABLE = ("draft", "twilio-rejected")
STATUSES = ("draft", "pending-review", "in-review", "twilio-rejected", "twilio-approved")


@dataclass(frozen=True)
class Family:
    kind: str
    collection: str  # CustomerProfiles | TrustProducts
    sid_field: str  # customer_profile_sid | trust_product_sid
    links_prefix: str  # customer_profiles | trust_products
    path_param: str  # CustomerProfileSid | TrustProductSid


PROFILES = Family(
    a2p_catalog.CUSTOMER_PROFILE,
    "CustomerProfiles",
    "customer_profile_sid",
    "customer_profiles",
    "CustomerProfileSid",
)
PRODUCTS = Family(
    a2p_catalog.TRUST_PRODUCT,
    "TrustProducts",
    "trust_product_sid",
    "trust_products",
    "TrustProductSid",
)
_FAMILIES = {f.kind: f for f in (PROFILES, PRODUCTS)}


# --- bundles ----------------------------------------------------------------------------------


def render_bundle(call: Call, record: Record) -> dict[str, Any]:
    family = _FAMILIES[record.kind]
    url = call.absolute(f"/v1/{family.collection}/{record.sid}")
    doc = record.doc
    return {
        "sid": record.sid,
        "account_sid": record.account_sid,
        "policy_sid": doc["policy_sid"],
        "friendly_name": doc["friendly_name"],
        "status": doc["status"],
        "valid_until": iso8601(doc.get("valid_until")),
        "email": doc["email"],
        "status_callback": doc["status_callback"],
        "date_created": iso8601(record.date_created),
        "date_updated": iso8601(record.date_updated),
        "url": url,
        "links": {
            f"{family.links_prefix}_entity_assignments": f"{url}/EntityAssignments",
            f"{family.links_prefix}_evaluations": f"{url}/Evaluations",
            f"{family.links_prefix}_channel_endpoint_assignment": (
                f"{url}/ChannelEndpointAssignments"
            ),
        },
        "errors": doc.get("errors"),
    }


def create_bundle(call: Call, family: Family, account_sid: str, fields: dict[str, Any]) -> Record:
    doc = {
        "status": "draft",
        "valid_until": None,
        "errors": None,
        "status_callback": None,
        **fields,
    }
    return call.emulator.create(family.kind, new_sid("BU"), account_sid, doc)


def _policy(call: Call, family: Family) -> str:
    sid = call.params.required_text("PolicySid")
    policy = a2p_catalog.POLICIES.get(sid)
    if policy is None or policy.bundle_kind != family.kind:
        known = [p.sid for p in a2p_catalog.POLICIES.values() if p.bundle_kind == family.kind]
        raise bad_request(
            20001, f"PolicySid {sid[:64]} is not a {family.collection} policy; use one of {known}"
        )
    return sid


def _create(family: Family) -> Handler:
    def create(call: Call) -> Reply:
        params = call.params
        name = params.friendly_name()
        if not name:
            raise bad_request(20001, "Missing required parameter FriendlyName in the post body")
        email = params.required_text("Email")
        policy_sid = _policy(call, family)
        callback = params.url("StatusCallback", code=20001) or None
        record = create_bundle(
            call,
            family,
            call.principal.account_sid,
            {
                "friendly_name": name,
                "email": email,
                "policy_sid": policy_sid,
                "status_callback": callback,
            },
        )
        return 201, render_bundle(call, record)

    return create


def _list(family: Family) -> Handler:
    def list_bundles(call: Call) -> Reply:
        where: list[tuple[str, tuple[Any, ...]]] = []
        status = call.params.choice("Status", STATUSES)
        if status is not None:
            where.append(("json_extract(doc, '$.status') = ?", (status,)))
        for param, field_name in (("FriendlyName", "friendly_name"), ("PolicySid", "policy_sid")):
            value = call.params.text(param)
            if value:
                where.append((f"json_extract(doc, '$.{field_name}') = ?", (value,)))
        page = list_records(
            call, family.kind, account_sids=[call.principal.account_sid], where=where
        )
        return v1_list(call, "results", page, lambda r: render_bundle(call, r))

    return list_bundles


def find_bundle(call: Call, family: Family, sid: str) -> Record:
    return call.find(family.kind, sid, "BU", account_sid=call.principal.account_sid)


def _fetch(family: Family) -> Handler:
    return lambda call: (
        200,
        render_bundle(call, find_bundle(call, family, call.path_params["Sid"])),
    )


def _submit(call: Call, record: Record) -> None:
    """Draft (or rejected) -> pending-review, only through an Evaluation that passes."""
    if record.doc["status"] not in EDITABLE:
        raise bad_request(
            20001, f"Bundle {record.sid} is {record.doc['status']}; only a draft can be submitted"
        )
    policy = a2p_catalog.POLICIES[record.doc["policy_sid"]]
    outcome = _record_evaluation(call, record, policy).doc
    if outcome["status"] != "compliant":
        failures = [r for r in outcome["results"] if not r["passed"]]
        raise bad_request(
            failures[0]["error_code"],
            f"Bundle {record.sid} is not compliant with policy {policy.sid}: "
            + "; ".join(f"{f['requirement_name']}: {f['failure_reason']}" for f in failures),
        )
    record.doc["errors"] = None
    call.registrations.submit(record, "pending-review")


def _update(family: Family) -> Handler:
    def update(call: Call) -> Reply:
        record = find_bundle(call, family, call.path_params["Sid"])
        params = call.params
        status = params.choice("Status", STATUSES)
        if status is not None and status != record.doc["status"] and status != "pending-review":
            raise bad_request(20001, f"Status can only be set to pending-review, not {status}")
        name = params.friendly_name()
        if name == "":
            raise bad_request(20002, "FriendlyName cannot be empty")
        changes: dict[str, Any] = {}
        if name is not None:
            changes["friendly_name"] = name
        email = params.text("Email")
        if email:
            changes["email"] = email
        callback = params.url("StatusCallback", code=20001)
        if callback is not None:
            changes["status_callback"] = callback or None
        with call.store.transaction():
            record.doc.update(changes)
            if status == "pending-review" and record.doc["status"] != "pending-review":
                _submit(call, record)
            call.store.save(record)
        return 200, render_bundle(call, record)

    return update


def _delete(family: Family) -> Handler:
    def delete(call: Call) -> Reply:
        record = find_bundle(call, family, call.path_params["Sid"])
        with call.store.transaction():
            for kind in ("bundle_assignment", "bundle_evaluation"):
                for child in call.store.select(kind, container_sid=record.sid):
                    call.store.delete(child)
            call.registrations.forget(record.sid)
            call.store.delete(record)
        return 204, None

    return delete


# --- entity assignments -------------------------------------------------------------------------

_OBJECT_KINDS = {"IT": ("end_user",), "RD": ("supporting_document",), "BU": (PROFILES.kind,)}


def _parent(call: Call, family: Family) -> Record:
    return find_bundle(call, family, call.path_params[family.path_param])


def render_assignment(call: Call, record: Record, family: Family) -> dict[str, Any]:
    bundle_sid = record.container_sid
    return {
        "sid": record.sid,
        family.sid_field: bundle_sid,
        "account_sid": record.account_sid,
        "object_sid": record.doc["object_sid"],
        "date_created": iso8601(record.date_created),
        "url": call.absolute(
            f"/v1/{family.collection}/{bundle_sid}/EntityAssignments/{record.sid}"
        ),
    }


def _assignable(call: Call, bundle: Record, object_sid: str) -> Record:
    """The item an ObjectSid names, if this bundle may carry it."""
    kinds = _OBJECT_KINDS.get(object_sid[:2], ()) if is_sid(object_sid, *_OBJECT_KINDS) else ()
    for kind in kinds:
        item = call.store.get(object_sid, kind)
        if item is None or item.sid == bundle.sid:
            continue
        if item.account_sid == bundle.account_sid:
            return item
        # A subaccount's profile may name its parent's primary customer profile by SID.
        parent_sid = call.principal.account.doc["owner_account_sid"]
        if (
            item.account_sid == parent_sid
            and item.doc.get("policy_sid") == a2p_catalog.PRIMARY_PROFILE_POLICY
        ):
            return item
    raise bad_request(
        20001,
        f"ObjectSid {object_sid[:64]} is not an End-User, Supporting Document or Customer"
        " Profile this bundle can use",
    )


def _require_editable(bundle: Record) -> None:
    if bundle.doc["status"] not in EDITABLE:
        raise bad_request(
            20001,
            f"Bundle {bundle.sid} is {bundle.doc['status']}: its assignments cannot change",
        )


def _create_assignment(family: Family) -> Handler:
    def create(call: Call) -> Reply:
        bundle = _parent(call, family)
        object_sid = call.params.required_text("ObjectSid")
        item = _assignable(call, bundle, object_sid)
        _require_editable(bundle)
        if call.store.count(
            "bundle_assignment",
            container_sid=bundle.sid,
            where=[("json_extract(doc, '$.object_sid') = ?", (object_sid,))],
        ):
            raise TwilioError(409, 20409, f"{object_sid} is already assigned to {bundle.sid}")
        record = call.emulator.create(
            "bundle_assignment",
            new_sid("BV"),
            bundle.account_sid,
            {"object_sid": item.sid, "object_kind": item.kind},
            container_sid=bundle.sid,
        )
        return 201, render_assignment(call, record, family)

    return create


def _list_assignments(family: Family) -> Handler:
    def list_assignments(call: Call) -> Reply:
        bundle = _parent(call, family)
        where: list[tuple[str, tuple[Any, ...]]] = []
        object_type = call.params.text("ObjectType")
        if object_type:
            where.append(("json_extract(doc, '$.object_kind') = ?", (object_type,)))
        page = list_records(call, "bundle_assignment", container_sid=bundle.sid, where=where)
        return v1_list(call, "results", page, lambda r: render_assignment(call, r, family))

    return list_assignments


def _assignment(call: Call, family: Family) -> tuple[Record, Record]:
    bundle = _parent(call, family)
    record = call.find("bundle_assignment", call.path_params["Sid"], "BV", container_sid=bundle.sid)
    return bundle, record


def _fetch_assignment(family: Family) -> Handler:
    return lambda call: (200, render_assignment(call, _assignment(call, family)[1], family))


def _delete_assignment(family: Family) -> Handler:
    def delete(call: Call) -> Reply:
        bundle, record = _assignment(call, family)
        _require_editable(bundle)
        call.store.delete(record)
        return 204, None

    return delete


# --- evaluations ------------------------------------------------------------------------------


def render_evaluation(call: Call, record: Record, family: Family) -> dict[str, Any]:
    bundle_sid = record.container_sid
    return {
        "sid": record.sid,
        "account_sid": record.account_sid,
        "policy_sid": record.doc["policy_sid"],
        family.sid_field: bundle_sid,
        "status": record.doc["status"],
        "results": record.doc["results"],
        "date_created": iso8601(record.date_created),
        "url": call.absolute(f"/v1/{family.collection}/{bundle_sid}/Evaluations/{record.sid}"),
    }


def _record_evaluation(call: Call, bundle: Record, policy: a2p_catalog.Policy) -> Record:
    outcome = evaluate(call.store, bundle, policy)
    return call.emulator.create(
        "bundle_evaluation",
        new_sid("EL"),
        bundle.account_sid,
        {"policy_sid": policy.sid, "status": outcome.status, "results": outcome.results},
        container_sid=bundle.sid,
    )


def _create_evaluation(family: Family) -> Handler:
    def create(call: Call) -> Reply:
        bundle = _parent(call, family)
        sid = call.params.required_text("PolicySid")
        policy = a2p_catalog.POLICIES.get(sid)
        if policy is None:
            raise bad_request(20001, f"PolicySid {sid[:64]} is not a Trust Hub policy")
        return 201, render_evaluation(call, _record_evaluation(call, bundle, policy), family)

    return create


def _list_evaluations(family: Family) -> Handler:
    def list_evaluations(call: Call) -> Reply:
        bundle = _parent(call, family)
        page = list_records(call, "bundle_evaluation", container_sid=bundle.sid)
        return v1_list(call, "results", page, lambda r: render_evaluation(call, r, family))

    return list_evaluations


def _fetch_evaluation(family: Family) -> Handler:
    def fetch(call: Call) -> Reply:
        bundle = _parent(call, family)
        record = call.find(
            "bundle_evaluation", call.path_params["Sid"], "EL", container_sid=bundle.sid
        )
        return 200, render_evaluation(call, record, family)

    return fetch


def _endpoints(family: Family) -> tuple[Endpoint, ...]:
    base = f"/trusthub/v1/{family.collection}"
    child = f"{base}/{{{family.path_param}}}"
    return (
        Endpoint(
            base, (Operation("GET", _list(family), None), Operation("POST", _create(family), None))
        ),
        Endpoint(
            f"{base}/{{Sid}}",
            (
                Operation("GET", _fetch(family), None),
                Operation("POST", _update(family), None),
                Operation("DELETE", _delete(family), None),
            ),
        ),
        Endpoint(
            f"{child}/EntityAssignments",
            (
                Operation("GET", _list_assignments(family), None),
                Operation("POST", _create_assignment(family), None),
            ),
        ),
        Endpoint(
            f"{child}/EntityAssignments/{{Sid}}",
            (
                Operation("GET", _fetch_assignment(family), None),
                Operation("DELETE", _delete_assignment(family), None),
            ),
        ),
        Endpoint(
            f"{child}/Evaluations",
            (
                Operation("GET", _list_evaluations(family), None),
                Operation("POST", _create_evaluation(family), None),
            ),
        ),
        Endpoint(
            f"{child}/Evaluations/{{Sid}}", (Operation("GET", _fetch_evaluation(family), None),)
        ),
    )


# Restricted keys: Twilio publishes no permission names for Trust Hub, so none is granted.
ENDPOINTS = (*_endpoints(PROFILES), *_endpoints(PRODUCTS))
