"""v2010 Accounts: the caller's account and its subaccounts.

Twilio semantics kept here: no DELETE (closing is the end of a subaccount and is permanent,
21479 afterwards); closing releases the account's numbers; only the parent changes a
subaccount's status and the main account's status cannot change (21477); subaccounts cannot
own subaccounts (21101); at most 1000 open subaccounts (21480), unless raised as Twilio
support raises it for ISVs (`--max-subaccounts`).
"""

from __future__ import annotations

import time
from typing import Any

from emulator import defaults
from emulator.messaging_services import create_default_service
from emulator.pages import list_records, v2010_list
from emulator.runtime import Call, Emulator, Endpoint, Operation, Reply
from emulator.store import Record
from emulator.wire import TwilioError, bad_request, new_secret, new_sid, now, rfc2822

STATUSES = ("active", "suspended", "closed")

_SUBRESOURCES = {
    "available_phone_numbers": "AvailablePhoneNumbers",
    "calls": "Calls",
    "conferences": "Conferences",
    "incoming_phone_numbers": "IncomingPhoneNumbers",
    "notifications": "Notifications",
    "outgoing_caller_ids": "OutgoingCallerIds",
    "recordings": "Recordings",
    "transcriptions": "Transcriptions",
    "addresses": "Addresses",
    "signing_keys": "SigningKeys",
    "connect_apps": "ConnectApps",
    "sip": "SIP",
    "authorized_connect_apps": "AuthorizedConnectApps",
    "usage": "Usage",
    "keys": "Keys",
    "applications": "Applications",
    "short_codes": "SMS/ShortCodes",
    "queues": "Queues",
    "messages": "Messages",
    "balance": "Balance",
}


def is_main(account: Record) -> bool:
    return account.doc["owner_account_sid"] == account.sid


def create_account(
    emulator: Emulator,
    *,
    sid: str,
    auth_token: str,
    friendly_name: str,
    owner_account_sid: str,
) -> Record:
    """A main account (owner is itself) or a subaccount, with its default Messaging Service."""
    doc = {
        "friendly_name": friendly_name,
        "status": "active",
        "type": "Full",
        "auth_token": auth_token,
        "owner_account_sid": owner_account_sid,
    }
    with emulator.store.transaction():
        record = emulator.create("account", sid, owner_account_sid, doc)
        if emulator.config.default_service:
            create_default_service(emulator, sid)
    return record


def ensure_bootstrap_account(emulator: Emulator) -> Record:
    """The development parent account: created on first start, its token kept as configured."""
    config = emulator.config
    existing = emulator.store.get(config.account_sid, "account")
    if existing is None:
        return create_account(
            emulator,
            sid=config.account_sid,
            auth_token=config.auth_token,
            friendly_name=defaults.DEV_ACCOUNT_FRIENDLY_NAME,
            owner_account_sid=config.account_sid,
        )
    if existing.doc["auth_token"] != config.auth_token:
        # The command line is the authority for the bootstrap credentials.
        existing.doc["auth_token"] = config.auth_token
        emulator.store.save(existing)
    return existing


def render_account(record: Record) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{record.sid}"
    doc = record.doc
    return {
        "auth_token": doc["auth_token"],
        "date_created": rfc2822(record.date_created),
        "date_updated": rfc2822(record.date_updated),
        "friendly_name": doc["friendly_name"],
        "owner_account_sid": doc["owner_account_sid"],
        "sid": record.sid,
        "status": doc["status"],
        "subresource_uris": {key: f"{base}/{path}.json" for key, path in _SUBRESOURCES.items()},
        "type": doc["type"],
        "uri": f"{base}.json",
    }


def _default_friendly_name() -> str:
    stamp = time.gmtime()
    hour = stamp.tm_hour % 12 or 12
    meridian = "am" if stamp.tm_hour < 12 else "pm"
    day = time.strftime("%Y-%m-%d", stamp)
    return f"SubAccount Created at {day} {hour:02d}:{stamp.tm_min:02d} {meridian}"


def create(call: Call) -> Reply:
    parent = call.principal.account
    if not is_main(parent):
        raise bad_request(21101, "Subaccounts cannot own subaccounts")
    name = call.params.friendly_name()
    open_subaccounts = call.store.count(
        "account",
        account_sids=[parent.sid],
        where=[("sid != ?", (parent.sid,)), ("json_extract(doc, '$.status') != 'closed'", ())],
    )
    limit = call.emulator.config.max_subaccounts
    if open_subaccounts >= limit:
        raise bad_request(21480, f"Reached the maximum of {limit} subaccounts for this account")
    record = create_account(
        call.emulator,
        sid=new_sid("AC"),
        auth_token=new_secret(),
        friendly_name=name or _default_friendly_name(),
        owner_account_sid=parent.sid,
    )
    return 201, render_account(record)


def list_accounts(call: Call) -> Reply:
    caller = call.principal.account
    where: list[tuple[str, tuple[Any, ...]]] = []
    if not is_main(caller):
        where.append(("sid = ?", (caller.sid,)))
    name = call.params.text("FriendlyName")
    if name is not None:
        where.append(("json_extract(doc, '$.friendly_name') = ?", (name,)))
    status = call.params.choice("Status", STATUSES, code=21475)
    if status is not None:
        where.append(("json_extract(doc, '$.status') = ?", (status,)))
    page = list_records(
        call, "account", account_sids=[caller.doc["owner_account_sid"]], where=where
    )
    return v2010_list(call, "accounts", page, render_account)


def fetch(call: Call) -> Reply:
    return 200, render_account(call.visible(call.account))


def update(call: Call) -> Reply:
    target = call.visible(call.account)
    name = call.params.friendly_name()
    status = call.params.choice("Status", STATUSES, code=21475)
    if status is not None:
        _check_status_change(call, target)
    with call.store.transaction():
        if name is not None:
            target.doc["friendly_name"] = name or target.doc["friendly_name"]
        if status is not None and status != target.doc["status"]:
            target.doc["status"] = status
            if status == "closed":
                _release_everything(call, target)
        call.store.save(target)
    return 200, render_account(target)


def _check_status_change(call: Call, target: Record) -> None:
    if is_main(target):
        raise bad_request(21477, "Unable to update Status for parent accounts")
    if call.principal.account_sid == target.sid:
        raise TwilioError(403, 20403, "Only the parent account can change a subaccount's Status")
    if target.doc["status"] == "closed":
        raise bad_request(
            21479, "Unable to update Status for subaccount, subaccount has been closed."
        )


def _release_everything(call: Call, account: Record) -> None:
    """Closing an account releases its numbers, as Twilio does; pools lose them too."""
    store = call.store
    for number in store.select("number", account_sids=[account.sid]):
        store.delete(number)
    for short_code in store.select("short_code", account_sids=[account.sid]):
        short_code.container_sid = None
        short_code.doc.pop("pooled_at", None)
        store.save(short_code, at=now())


_BASE = "/api/2010-04-01/Accounts"

ENDPOINTS = (
    Endpoint(
        f"{_BASE}.json",
        (
            Operation("GET", list_accounts, None, account_admin=True),
            Operation("POST", create, None, account_admin=True),
        ),
    ),
    Endpoint(
        _BASE + "/{AccountSid}.json",
        (
            Operation("GET", fetch, None, account_admin=True),
            Operation("POST", update, None, account_admin=True),
        ),
    ),
)
