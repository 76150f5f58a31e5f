"""IAM v1 Keys (`https://iam.twilio.com/v1/Keys`): standard and restricted keys.

Like the other v1 APIs these act on the account whose credentials sign the request: the
`AccountSid` parameter must name that account. Restricted keys carry a Policy
(`{"allow": ["/twilio/..."]}`, at most 100 permissions) that auth.py enforces.
"""

from __future__ import annotations

import json
from typing import Any

from emulator.api_keys import create_key
from emulator.auth import RESTRICTED_KEY, STANDARD_KEY
from emulator.pages import list_records, v1_list
from emulator.runtime import Call, Endpoint, Operation, Reply
from emulator.store import Record
from emulator.wire import Params, TwilioError, bad_request, rfc2822

MAX_PERMISSIONS = 100
MAX_POLICY_BYTES = 64 * 1024


def parse_policy(params: Params) -> dict[str, Any] | None:
    raw = params.text("Policy")
    if raw is None:
        return None
    if len(raw) > MAX_POLICY_BYTES:
        raise bad_request(20001, "Policy is too large")
    try:
        policy = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise bad_request(20001, "Policy must be a JSON object") from exc
    allow = policy.get("allow") if isinstance(policy, dict) else None
    if not isinstance(allow, list) or not allow:
        raise bad_request(20001, 'Policy must be a JSON object with a non-empty "allow" list')
    if len(allow) > MAX_PERMISSIONS:
        raise bad_request(20001, f"A restricted key holds at most {MAX_PERMISSIONS} permissions")
    for permission in allow:
        if (
            not isinstance(permission, str)
            or not permission.startswith("/twilio/")
            or len(permission) > 256
        ):
            raise bad_request(20001, f"Invalid permission in Policy: {str(permission)[:100]}")
    unknown = sorted(set(policy) - {"allow"})
    if unknown:
        raise bad_request(20001, f"Unknown Policy fields: {', '.join(unknown)[:200]}")
    return {"allow": list(dict.fromkeys(allow))}


def _signing_account(call: Call, account_sid: str | None) -> str:
    if not account_sid:
        raise bad_request(20001, "Missing required parameter AccountSid")
    if account_sid != call.principal.account_sid:
        raise TwilioError(
            403, 20403, f"AccountSid {account_sid[:64]} is not the account of these credentials"
        )
    return account_sid


def _dates(record: Record) -> dict[str, Any]:
    return {
        "date_created": rfc2822(record.date_created),
        "date_updated": rfc2822(record.date_updated),
    }


def render_key(record: Record) -> dict[str, Any]:
    return {
        "sid": record.sid,
        "friendly_name": record.doc["friendly_name"],
        **_dates(record),
        "policy": record.doc["policy"],
    }


def render_listed_key(record: Record) -> dict[str, Any]:
    # Restricted keys cannot mint access tokens, so they lack the "signing" flag.
    restricted = record.doc["key_type"] == RESTRICTED_KEY
    return {
        "sid": record.sid,
        "friendly_name": record.doc["friendly_name"],
        **_dates(record),
        "flags": ["rest_api"] if restricted else ["rest_api", "signing"],
    }


def create(call: Call) -> Reply:
    params = call.params
    account_sid = _signing_account(call, params.text("AccountSid"))
    name = params.friendly_name()
    key_type = params.choice("KeyType", ("restricted",)) or STANDARD_KEY
    policy = parse_policy(params)
    if key_type == RESTRICTED_KEY and policy is None:
        raise bad_request(20001, "A restricted key needs a Policy")
    if key_type == STANDARD_KEY and policy is not None:
        raise bad_request(20001, "Policy applies to restricted keys only (KeyType=restricted)")
    record, secret = create_key(call.emulator, account_sid, name or None, key_type, policy)
    return 201, {**render_key(record), "secret": secret}


def list_keys(call: Call) -> Reply:
    account_sid = _signing_account(call, call.params.text("AccountSid"))
    page = list_records(call, "key", account_sids=[account_sid])
    return v1_list(call, "keys", page, render_listed_key)


def _key(call: Call) -> Record:
    return call.find("key", call.path_params["Sid"], "SK", account_sid=call.principal.account_sid)


def fetch(call: Call) -> Reply:
    return 200, render_key(_key(call))


def update(call: Call) -> Reply:
    record = _key(call)
    name = call.params.friendly_name()
    policy = parse_policy(call.params)
    if policy is not None and record.doc["key_type"] != RESTRICTED_KEY:
        raise bad_request(20001, "Only restricted keys have a Policy")
    if name is not None:
        record.doc["friendly_name"] = name or None
    if policy is not None:
        record.doc["policy"] = policy
    call.store.save(record)
    return 200, render_key(record)


def delete(call: Call) -> Reply:
    call.store.delete(_key(call))
    return 204, None


ENDPOINTS = (
    Endpoint(
        "/iam/v1/Keys",
        (
            Operation("GET", list_keys, None, account_admin=True),
            Operation("POST", create, None, account_admin=True),
        ),
    ),
    Endpoint(
        "/iam/v1/Keys/{Sid}",
        (
            Operation("GET", fetch, None, account_admin=True),
            Operation("POST", update, None, account_admin=True),
            Operation("DELETE", delete, None, account_admin=True),
        ),
    ),
)
