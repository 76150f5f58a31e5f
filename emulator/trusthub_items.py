"""Trust Hub v1: EndUsers, SupportingDocuments and the fixed Policies.

Like every v1 API, items belong to the account whose credentials sign the request. End users
and supporting documents carry free-form `Attributes` (a JSON object, which the official
client sends as one form field); what a bundle needs of them is checked by its Evaluation, not
here, as Twilio does. A supporting document's `address_sids` name v2010 Addresses.
"""

from __future__ import annotations

import json
from typing import Any

from emulator import a2p_catalog
from emulator.pages import list_records, v1_list
from emulator.runtime import Call, Endpoint, Handler, Operation, Reply
from emulator.store import Record
from emulator.wire import Params, bad_request, iso8601, new_sid, not_found, page_request, v1_page

_ITEM_KINDS = {"end_user": ("IT", "EndUsers"), "supporting_document": ("RD", "SupportingDocuments")}


def attributes(params: Params) -> dict[str, Any] | None:
    text = params.text("Attributes")
    if text is None:
        return None
    try:
        value = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise bad_request(20001, "Attributes must be a JSON object") from exc
    if not isinstance(value, dict):
        raise bad_request(20001, "Attributes must be a JSON object")
    return value


def _type(params: Params, known: dict[str, a2p_catalog.ItemType], what: str) -> str:
    value = params.required_text("Type")
    if value not in known:
        raise bad_request(
            20001, f"Type {value[:64]} is not a valid {what} type; use one of {', '.join(known)}"
        )
    return value


def render_item(call: Call, record: Record) -> dict[str, Any]:
    _prefix, collection = _ITEM_KINDS[record.kind]
    body = {
        "sid": record.sid,
        "account_sid": record.account_sid,
        "friendly_name": record.doc["friendly_name"],
        "type": record.doc["type"],
        "attributes": record.doc["attributes"],
        "date_created": iso8601(record.date_created),
        "date_updated": iso8601(record.date_updated),
        "url": call.absolute(f"/v1/{collection}/{record.sid}"),
    }
    if record.kind == "supporting_document":
        body["status"] = record.doc["status"]
        body["mime_type"] = None  # only uploaded files have one; the API creates none
    return body


def find_item(call: Call, kind: str, sid: str) -> Record:
    prefix, _collection = _ITEM_KINDS[kind]
    return call.find(kind, sid, prefix, account_sid=call.principal.account_sid)


def _create(kind: str, known: dict[str, a2p_catalog.ItemType], what: str) -> Handler:
    def create(call: Call) -> Reply:
        params = call.params
        name = params.friendly_name()
        if not name:
            raise bad_request(20001, "Missing required parameter FriendlyName in the post body")
        item_type = _type(params, known, what)
        doc: dict[str, Any] = {
            "friendly_name": name,
            "type": item_type,
            "attributes": attributes(params) or {},
        }
        if kind == "supporting_document":
            doc["status"] = "DRAFT"
        prefix, _collection = _ITEM_KINDS[kind]
        record = call.emulator.create(kind, new_sid(prefix), call.principal.account_sid, doc)
        return 201, render_item(call, record)

    return create


def _list(kind: str) -> Handler:
    def list_items(call: Call) -> Reply:
        page = list_records(call, kind, account_sids=[call.principal.account_sid])
        return v1_list(call, "results", page, lambda r: render_item(call, r))

    return list_items


def _fetch(kind: str) -> Handler:
    return lambda call: (200, render_item(call, find_item(call, kind, call.path_params["Sid"])))


def _update(kind: str) -> Handler:
    def update(call: Call) -> Reply:
        record = find_item(call, kind, call.path_params["Sid"])
        name = call.params.friendly_name()
        if name == "":
            raise bad_request(20002, "FriendlyName cannot be empty")
        if name is not None:
            record.doc["friendly_name"] = name
        values = attributes(call.params)
        if values is not None:
            record.doc["attributes"] = values
        call.store.save(record)
        return 200, render_item(call, record)

    return update


def _delete(kind: str) -> Handler:
    def delete(call: Call) -> Reply:
        record = find_item(call, kind, call.path_params["Sid"])
        if call.store.count(
            "bundle_assignment",
            account_sids=[record.account_sid],
            where=[("json_extract(doc, '$.object_sid') = ?", (record.sid,))],
        ):
            raise bad_request(
                20001, f"{record.sid} is assigned to a bundle; remove the assignment first"
            )
        call.store.delete(record)
        return 204, None

    return delete


# --- Policies ------------------------------------------------------------------------------------


def render_policy(call: Call, policy: a2p_catalog.Policy) -> dict[str, Any]:
    return {
        "sid": policy.sid,
        "friendly_name": policy.friendly_name,
        "requirements": policy.requirements(),
        "url": call.absolute(f"/v1/Policies/{policy.sid}"),
    }


def list_policies(call: Call) -> Reply:
    request = page_request(call.params)
    policies = list(a2p_catalog.POLICIES.values())
    start = request.offset
    chunk = policies[start : start + request.page_size]
    # A fixed list: offset paging only, so the next page is asked for without a token.
    has_more = start + request.page_size < len(policies)
    body = v1_page(
        "results",
        [render_policy(call, p) for p in chunk],
        request,
        call.absolute(call.twilio_path),
        call.params.items(),
        None,
    )
    if has_more:
        body["meta"]["next_page_url"] = call.absolute(
            f"{call.twilio_path}?PageSize={request.page_size}&Page={request.page + 1}"
        )
    return 200, body


def fetch_policy(call: Call) -> Reply:
    policy = a2p_catalog.POLICIES.get(call.path_params["Sid"])
    if policy is None:
        raise not_found(call.twilio_path)
    return 200, render_policy(call, policy)


_BASE = "/trusthub/v1"


def _item_endpoints(kind: str, collection: str, known: dict, what: str) -> tuple[Endpoint, ...]:
    return (
        Endpoint(
            f"{_BASE}/{collection}",
            (
                Operation("GET", _list(kind), None),
                Operation("POST", _create(kind, known, what), None),
            ),
        ),
        Endpoint(
            f"{_BASE}/{collection}/{{Sid}}",
            (
                Operation("GET", _fetch(kind), None),
                Operation("POST", _update(kind), None),
                Operation("DELETE", _delete(kind), None),
            ),
        ),
    )


# Restricted keys: Twilio publishes no permission names for Trust Hub, so none is granted.
ENDPOINTS = (
    *_item_endpoints("end_user", "EndUsers", a2p_catalog.END_USER_TYPES, "End-User"),
    *_item_endpoints(
        "supporting_document",
        "SupportingDocuments",
        a2p_catalog.SUPPORTING_DOCUMENT_TYPES,
        "Supporting Document",
    ),
    Endpoint(f"{_BASE}/Policies", (Operation("GET", list_policies, None),)),
    Endpoint(f"{_BASE}/Policies/{{Sid}}", (Operation("GET", fetch_policy, None),)),
)
