"""Message lifecycle as seen by a webhook: signed status callbacks, retries, loopback only."""

from __future__ import annotations

import asyncio
import socket
import time
import warnings
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from emulator.app import create_app
from emulator.defaults import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN
from emulator.faults import RuntimeSettings
from emulator.lifecycle import loopback_target
from emulator.runtime import EmulatorConfig
from tests.emulator.conftest import Tenant, buy_number
from tests.support.callback_receiver import CallbackReceiver, ReceivedRequest
from tests.support.emulator_process import EmulatorProcess

TO = "+14155550123"
REQUIRED = {
    "MessageSid",
    "SmsSid",
    "MessageStatus",
    "SmsStatus",
    "AccountSid",
    "From",
    "To",
    "ApiVersion",
}


@pytest.fixture
def receiver() -> CallbackReceiver:
    with CallbackReceiver() as running:
        yield running


@pytest.fixture
def pooled_service(tenant: Tenant):
    def make(status_callback: str):
        service = tenant.client.messaging.v1.services.create(
            friendly_name="tracked", status_callback=status_callback
        )
        number_sid = buy_number(tenant.client)
        tenant.client.messaging.v1.services(service.sid).phone_numbers.create(
            phone_number_sid=number_sid
        )
        return service

    return make


def _statuses(receiver: CallbackReceiver, sid: str) -> list[str]:
    return [
        r.params["MessageStatus"]
        for r in receiver.matching(lambda r: r.params.get("MessageSid") == sid)
    ]


def _final(receiver: CallbackReceiver, sid: str, status: str) -> ReceivedRequest:
    return receiver.wait_for(
        lambda r: r.params.get("MessageSid") == sid and r.params["MessageStatus"] == status
    )


def test_each_transition_posts_a_signed_callback(
    receiver: CallbackReceiver, tenant: Tenant, pooled_service
) -> None:
    url = receiver.url("/twilio/status?tenant=acme")
    service = pooled_service(url)
    message = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="hello")
    delivered = _final(receiver, message.sid, "delivered")
    assert sorted(_statuses(receiver, message.sid)) == sorted(
        ["queued", "sending", "sent", "delivered"]
    )
    assert set(delivered.params) >= REQUIRED
    assert delivered.params["MessagingServiceSid"] == service.sid
    assert delivered.params["AccountSid"] == tenant.sid
    assert len(delivered.params["RawDlrDoneDate"]) == 10
    assert delivered.path == "/twilio/status?tenant=acme"
    for request in receiver.matching(lambda r: r.params.get("MessageSid") == message.sid):
        signature = request.headers["X-Twilio-Signature"]
        # Signed with the sending subaccount's auth token, over the exact URL and parameters.
        assert RequestValidator(tenant.auth_token).validate(url, request.params, signature)
        assert not RequestValidator(DEV_AUTH_TOKEN).validate(url, request.params, signature)
    tokens = {
        r.headers["I-Twilio-Idempotency-Token"]
        for r in receiver.matching(lambda r: r.params.get("MessageSid") == message.sid)
    }
    assert len(tokens) == 4


def test_message_callback_wins_over_the_service_callback(
    receiver: CallbackReceiver, tenant: Tenant, pooled_service
) -> None:
    service = pooled_service(receiver.url("/service"))
    message = tenant.client.messages.create(
        to=TO, messaging_service_sid=service.sid, body="x", status_callback=receiver.url("/message")
    )
    _final(receiver, message.sid, "delivered")
    paths = {r.path for r in receiver.matching(lambda r: r.params.get("MessageSid") == message.sid)}
    assert paths == {"/message"}


def test_default_service_callback_covers_messages_without_a_service(
    receiver: CallbackReceiver, tenant: Tenant
) -> None:
    default = tenant.client.messaging.v1.services.list()[0]
    tenant.client.messaging.v1.services(default.sid).update(
        status_callback=receiver.url("/default")
    )
    sender = tenant.client.incoming_phone_numbers(buy_number(tenant.client)).fetch().phone_number
    message = tenant.client.messages.create(to=TO, from_=sender, body="x")
    delivered = _final(receiver, message.sid, "delivered")
    assert delivered.path == "/default" and delivered.params["MessagingServiceSid"] == default.sid


def test_failed_outcome_carries_an_error_code(
    receiver: CallbackReceiver, tenant: Tenant, pooled_service, emulator: EmulatorProcess
) -> None:
    emulator.set_faults(message_failed_rate=1.0)
    service = pooled_service(receiver.url())
    message = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="x")
    failed = _final(receiver, message.sid, "failed")
    assert failed.params["ErrorCode"] == "30008"
    assert tenant.client.messages(message.sid).fetch().error_code == 30008


def test_undelivered_outcome(
    receiver: CallbackReceiver, tenant: Tenant, pooled_service, emulator: EmulatorProcess
) -> None:
    emulator.set_faults(message_undelivered_rate=1.0)
    service = pooled_service(receiver.url())
    message = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="x")
    undelivered = _final(receiver, message.sid, "undelivered")
    assert 30003 <= int(undelivered.params["ErrorCode"]) <= 30007
    assert "RawDlrDoneDate" in undelivered.params
    fetched = tenant.client.messages(message.sid).fetch()
    assert fetched.status == "undelivered" and fetched.price == "-0.00790"


def test_outcome_rates_are_repeatable_with_a_seed(
    tenant: Tenant, pooled_service, emulator: EmulatorProcess, receiver: CallbackReceiver
) -> None:
    service = pooled_service(receiver.url())

    def outcomes() -> list[str]:
        emulator.set_faults(seed=7, message_failed_rate=0.3, message_undelivered_rate=0.3)
        sids = [
            tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="x").sid
            for _ in range(12)
        ]
        results = []
        for sid in sids:
            request = receiver.wait_for(
                lambda r, sid=sid: (
                    r.params.get("MessageSid") == sid
                    and r.params["MessageStatus"] in ("delivered", "undelivered", "failed")
                )
            )
            results.append(request.params["MessageStatus"])
        emulator.set_faults(seed=None)
        return results

    first = outcomes()
    assert outcomes() == first
    assert len(set(first)) > 1


def test_failed_callbacks_are_retried(
    receiver: CallbackReceiver, tenant: Tenant, pooled_service, emulator: EmulatorProcess
) -> None:
    service = pooled_service(receiver.url())
    receiver.fail_next(2)
    message = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="x")
    _final(receiver, message.sid, "delivered")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = emulator.callbacks(message_sid=message.sid)
        if len(events) == 4 and all(e["state"] == "delivered" for e in events):
            break
        time.sleep(0.05)
    assert [e["state"] for e in events] == ["delivered"] * 4
    assert sum(e["attempts"] for e in events) == 4 + 2
    queued = [
        r
        for r in receiver.requests
        if r.params.get("MessageStatus") == "queued" and r.params["MessageSid"] == message.sid
    ]
    assert len({r.headers["I-Twilio-Idempotency-Token"] for r in queued}) == 1


def test_callbacks_give_up_after_the_configured_attempts(
    receiver: CallbackReceiver, tenant: Tenant, pooled_service, emulator: EmulatorProcess
) -> None:
    emulator.set_faults(callback_attempts=2, callback_retry_ms=1)
    service = pooled_service(receiver.url())
    receiver.fail_next(1000)
    message = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="x")
    deadline = time.monotonic() + 5
    events: list[dict] = []
    while time.monotonic() < deadline:
        events = emulator.callbacks(message_sid=message.sid)
        if len(events) == 4 and all(e["state"] == "failed" for e in events):
            break
        time.sleep(0.05)
    assert [(e["state"], e["attempts"], e["last_status"]) for e in events] == [
        ("failed", 2, 500)
    ] * 4


def test_non_loopback_callbacks_are_recorded_as_undeliverable(
    tenant: Tenant, pooled_service, emulator: EmulatorProcess
) -> None:
    service = pooled_service("https://hooks.example.com/twilio/status")
    message = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="x")
    deadline = time.monotonic() + 5
    while (
        time.monotonic() < deadline
        and tenant.client.messages(message.sid).fetch().status != "delivered"
    ):
        time.sleep(0.02)
    events = emulator.callbacks(message_sid=message.sid)
    assert [e["params"]["MessageStatus"] for e in events] == [
        "queued",
        "sending",
        "sent",
        "delivered",
    ]
    assert all(e["state"] == "undeliverable" and e["attempts"] == 0 for e in events)
    assert all("loopback" in e["last_error"] for e in events)


def test_localhost_is_loopback(receiver: CallbackReceiver, tenant: Tenant, pooled_service) -> None:
    url = f"http://localhost:{receiver.port}/by-name"
    service = pooled_service(url)
    message = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="x")
    delivered = _final(receiver, message.sid, "delivered")
    assert RequestValidator(tenant.auth_token).validate(
        url, delivered.params, delivered.headers["X-Twilio-Signature"]
    )


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/x", True),
        ("http://127.5.6.7/x", True),
        ("http://[::1]:9000/x", True),
        ("https://localhost/x", True),
        ("https://hooks.example.com/twilio/status", False),
        ("http://10.0.0.1/x", False),
        ("http://localhost.example.com/x", False),
        ("http://127.0.0.1.nip.io/x", False),
        ("ftp://127.0.0.1/x", False),
        ("http://127.0.0.1:99999/x", False),
    ],
)
def test_loopback_rule(url: str, loopback: bool) -> None:
    assert (loopback_target(url) is not None) is loopback


def test_no_dns_lookup_and_no_connection_for_other_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process, with name resolution and outgoing connections booby-trapped."""
    attempts: list[object] = []

    def trapped(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError("the emulator tried to reach the network")

    async def trapped_connection(*args: object, **kwargs: object) -> None:
        trapped(*args)

    monkeypatch.setattr(socket, "getaddrinfo", trapped)
    monkeypatch.setattr(socket, "gethostbyname", trapped)
    monkeypatch.setattr(socket, "create_connection", trapped)
    monkeypatch.setattr(asyncio, "open_connection", trapped_connection)
    config = EmulatorConfig(
        db_path=str(tmp_path / "inproc.db"),
        account_sid=DEV_ACCOUNT_SID,
        auth_token=DEV_AUTH_TOKEN,
        default_service=True,
        settings=RuntimeSettings(lifecycle_step_ms=5),
    )
    with warnings.catch_warnings():
        # Starlette 1.10 flags its httpx-based TestClient as deprecated; it still works.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    app = create_app(config)
    auth = (DEV_ACCOUNT_SID, DEV_AUTH_TOKEN)
    base = f"/api/2010-04-01/Accounts/{DEV_ACCOUNT_SID}"
    with TestClient(app, base_url="http://127.0.0.1:4010") as http:
        found = http.get(f"{base}/AvailablePhoneNumbers/US/Local.json", auth=auth).json()
        phone = found["available_phone_numbers"][0]["phone_number"]
        assert (
            http.post(
                f"{base}/IncomingPhoneNumbers.json", data={"PhoneNumber": phone}, auth=auth
            ).status_code
            == 201
        )
        sent = http.post(
            f"{base}/Messages.json",
            data={
                "To": TO,
                "From": phone,
                "Body": "x",
                "StatusCallback": "https://hooks.example.com/twilio/status",
            },
            auth=auth,
        )
        assert sent.status_code == 201
        sid = sent.json()["sid"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if http.get(f"{base}/Messages/{sid}.json", auth=auth).json()["status"] == "delivered":
                break
            time.sleep(0.01)
        events = app.emulator.store.callback_events(message_sid=sid)
    # Sent with From: queued is the initial status, then sending, sent, delivered.
    assert [e.params["MessageStatus"] for e in events] == ["sending", "sent", "delivered"]
    assert [e.state for e in events] == ["undeliverable"] * 3
    assert attempts == []
