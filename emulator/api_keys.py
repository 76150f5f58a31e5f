"""API keys: the shared key model and the v2010 `/Accounts/{AccountSid}/Keys` endpoints.

v2010 Keys mints standard keys only; IAM v1 (iam_keys.py) also mints restricted keys. Main keys
cannot be created through any API (Twilio Console only); the admin API seeds them. The secret is
answered once, by create, and kept only as a hash.
"""

from __future__ import annotations

from typing import Any

from emulator.auth import MAIN_KEY, STANDARD_KEY, hash_secret
from emulator.pages import own_account_sid, v2010_account_list
from emulator.runtime import Call, Emulator, Endpoint, Operation, Reply
from emulator.store import Record
from emulator.wire import new_secret, new_sid, rfc2822


def create_key(
    emulator: Emulator,
    account_sid: str,
    friendly_name: str | None,
    key_type: str = STANDARD_KEY,
    policy: dict[str, Any] | None = None,
) -> tuple[Record, str]:
    """A new key and its secret (the only time the secret exists in clear)."""
    secret = new_secret()
    doc = {
        "friendly_name": friendly_name,
        "secret_hash": hash_secret(secret),
        "key_type": key_type,
        "policy": policy,
    }
    return emulator.create("key", new_sid("SK"), account_sid, doc), secret


def render_key(record: Record) -> dict[str, Any]:
    return {
        "sid": record.sid,
        "friendly_name": record.doc["friendly_name"],
        "date_created": rfc2822(record.date_created),
        "date_updated": rfc2822(record.date_updated),
    }


def _key_in(call: Call, account_sid: str) -> Record:
    return call.find("key", call.path_params["Sid"], "SK", account_sid=account_sid)


def create(call: Call) -> Reply:
    name = call.params.friendly_name()
    record, secret = create_key(call.emulator, own_account_sid(call), name or None)
    return 201, {**render_key(record), "secret": secret}


def list_keys(call: Call) -> Reply:
    return v2010_account_list(call, "key", "keys", render_key)


def fetch(call: Call) -> Reply:
    return 200, render_key(_key_in(call, own_account_sid(call)))


def update(call: Call) -> Reply:
    record = _key_in(call, own_account_sid(call))
    name = call.params.friendly_name()
    if name is not None:
        record.doc["friendly_name"] = name or None
        call.store.save(record)
    return 200, render_key(record)


def delete(call: Call) -> Reply:
    record = _key_in(call, own_account_sid(call))
    call.store.delete(record)
    return 204, None


def seed_main_key(emulator: Emulator, account_sid: str, friendly_name: str) -> tuple[Record, str]:
    return create_key(emulator, account_sid, friendly_name, key_type=MAIN_KEY)


_BASE = "/api/2010-04-01/Accounts/{AccountSid}"

ENDPOINTS = (
    Endpoint(
        f"{_BASE}/Keys.json",
        (
            Operation("GET", list_keys, None, account_admin=True),
            Operation("POST", create, None, account_admin=True),
        ),
    ),
    Endpoint(
        _BASE + "/Keys/{Sid}.json",
        (
            Operation("GET", fetch, None, account_admin=True),
            Operation("POST", update, None, account_admin=True),
            Operation("DELETE", delete, None, account_admin=True),
        ),
    ),
)
