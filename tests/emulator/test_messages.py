"""v2010 Messages: sending, validation, lifecycle visible through fetch, lists, redaction."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.emulator.conftest import Tenant, buy_number
from tests.support.emulator_process import EmulatorProcess

TO = "+14155550123"


def wait_status(client: Client, sid: str, statuses: set[str], timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        message = client.messages(sid).fetch()
        if message.status in statuses or time.monotonic() > deadline:
            return message
        time.sleep(0.02)


@pytest.fixture
def sender(tenant: Tenant) -> str:
    sid = buy_number(tenant.client)
    return tenant.client.incoming_phone_numbers(sid).fetch().phone_number


def test_send_from_a_number_goes_queued_to_delivered(tenant: Tenant, sender: str) -> None:
    message = tenant.client.messages.create(to=TO, from_=sender, body="hello")
    assert message.sid.startswith("SM") and message.status == "queued"
    assert message.from_ == sender and message.to == TO
    assert (message.num_segments, message.num_media) == ("1", "0")
    assert message.direction == "outbound-api" and message.price is None
    assert message.uri == f"/2010-04-01/Accounts/{tenant.sid}/Messages/{message.sid}.json"
    # Sent without MessagingServiceSid: the account's default service carries it.
    default = tenant.client.messaging.v1.services.list()[0]
    assert message.messaging_service_sid == default.sid
    done = wait_status(tenant.client, message.sid, {"delivered"})
    assert done.status == "delivered"
    assert done.price == "-0.00790" and done.price_unit == "USD"
    assert done.date_sent is not None and done.error_code is None


def test_send_through_a_service_picks_a_pool_sender(tenant: Tenant, sender: str) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="notify")
    number = tenant.client.incoming_phone_numbers.list(phone_number=sender)[0]
    tenant.client.messaging.v1.services(service.sid).phone_numbers.create(
        phone_number_sid=number.sid
    )
    message = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="hi")
    assert message.status == "accepted"
    assert message.from_ is None and message.num_segments == "0"
    assert message.messaging_service_sid == service.sid
    done = wait_status(tenant.client, message.sid, {"delivered"})
    assert done.from_ == sender and done.num_segments == "1"


def test_sticky_sender_reuses_the_previous_number(tenant: Tenant) -> None:
    service = tenant.client.messaging.v1.services.create(
        friendly_name="sticky", area_code_geomatch=False
    )
    for area in (212, 303, 512):
        sid = buy_number(tenant.client, area_code=area)
        tenant.client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=sid)
    first = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="1")
    chosen = wait_status(tenant.client, first.sid, {"delivered"}).from_
    second = tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="2")
    assert wait_status(tenant.client, second.sid, {"delivered"}).from_ == chosen


def test_area_code_geomatch_prefers_a_local_sender(tenant: Tenant) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="geo", sticky_sender=False)
    for area in (212, 415, 512):
        sid = buy_number(tenant.client, area_code=area)
        tenant.client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=sid)
    message = tenant.client.messages.create(
        to="+12125550100", messaging_service_sid=service.sid, body="x"
    )
    assert wait_status(tenant.client, message.sid, {"delivered"}).from_.startswith("+1212")


def test_segments_and_media(tenant: Tenant, sender: str) -> None:
    long_gsm = tenant.client.messages.create(to=TO, from_=sender, body="a" * 161)
    assert long_gsm.num_segments == "2"
    unicode_body = tenant.client.messages.create(
        to=TO, from_=sender, body="é😀" * 50
    )  # 150 UTF-16 units: 3 segments of 67
    assert unicode_body.num_segments == "3"
    mms = tenant.client.messages.create(
        to=TO, from_=sender, media_url=["https://example.com/a.png"]
    )
    assert mms.sid.startswith("MM") and mms.num_media == "1"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"to": "", "from_": "+14155550100", "body": "x"}, 21604),
        ({"to": TO, "body": "x"}, 21603),
        ({"to": TO, "from_": "SENDER"}, 21602),
        ({"to": TO, "from_": "SENDER", "body": ""}, 21619),
        ({"to": "12345", "from_": "SENDER", "body": "x"}, 21211),
        ({"to": TO, "from_": "+19995550100", "body": "x"}, 21606),
        ({"to": TO, "from_": "not a number!", "body": "x"}, 21212),
        ({"to": TO, "from_": "SENDER", "body": "x" * 1601}, 21617),
        ({"to": TO, "from_": "SENDER", "body": "x", "status_callback": "nope"}, 21609),
        ({"to": TO, "from_": "SENDER", "body": "x", "validity_period": 0}, 21624),
        ({"to": TO, "messaging_service_sid": "MG123", "body": "x"}, 21705),
        ({"to": TO, "messaging_service_sid": "MG" + "0" * 32, "body": "x"}, 21701),
    ],
)
def test_create_validation(tenant: Tenant, sender: str, params: dict, code: int) -> None:
    resolved = {k: (sender if v == "SENDER" else v) for k, v in params.items()}
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messages.create(**resolved)
    assert (error.value.status, error.value.code) == (400, code)


def test_service_without_senders_is_21704(tenant: Tenant) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="empty")
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messages.create(to=TO, messaging_service_sid=service.sid, body="x")
    assert error.value.code == 21704


def test_voice_only_number_cannot_send(tenant: Tenant) -> None:
    voice_sid = buy_number(tenant.client, sms=False)
    phone = tenant.client.incoming_phone_numbers(voice_sid).fetch().phone_number
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messages.create(to=TO, from_=phone, body="x")
    assert error.value.code == 21606


def test_alpha_sender_and_short_code_can_send(tenant: Tenant, emulator: EmulatorProcess) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="brand")
    tenant.client.messaging.v1.services(service.sid).alpha_senders.create(alpha_sender="Acme")
    alpha = tenant.client.messages.create(
        to="+447700900123", from_="Acme", body="x", messaging_service_sid=service.sid
    )
    assert alpha.from_ == "Acme"
    code = emulator.provision_short_code(tenant.sid)["short_code"]
    short = tenant.client.messages.create(to=TO, from_=code, body="x")
    assert short.from_ == code


def test_suspended_account_cannot_send_but_can_read(
    parent: Client, tenant: Tenant, sender: str
) -> None:
    parent.api.v2010.accounts(tenant.sid).update(status="suspended")
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messages.create(to=TO, from_=sender, body="x")
    assert error.value.code == 10001
    with pytest.raises(TwilioRestException) as error:
        tenant.via_parent.messages.create(to=TO, from_=sender, body="x")
    assert error.value.code == 10001
    assert tenant.client.messages.list() == []
    parent.api.v2010.accounts(tenant.sid).update(status="active")
    assert tenant.client.messages.create(to=TO, from_=sender, body="x").status == "queued"


def test_list_newest_first_with_filters(tenant: Tenant, sender: str) -> None:
    sids = [
        tenant.client.messages.create(to=f"+1415555010{i}", from_=sender, body=str(i)).sid
        for i in range(3)
    ]
    assert [m.sid for m in tenant.client.messages.list()] == list(reversed(sids))
    assert [m.sid for m in tenant.client.messages.list(to="+14155550101")] == [sids[1]]
    assert len(tenant.client.messages.list(from_=sender)) == 3
    for sid in sids:
        wait_status(tenant.client, sid, {"delivered"})
    today = datetime.now(UTC)
    assert len(tenant.client.messages.list(date_sent=today)) == 3
    assert len(tenant.client.messages.list(date_sent_after=today - timedelta(days=1))) == 3
    assert tenant.client.messages.list(date_sent_before=today - timedelta(days=2)) == []


def test_redact_and_delete(tenant: Tenant, sender: str) -> None:
    message = tenant.client.messages.create(to=TO, from_=sender, body="secret")
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messages(message.sid).delete()
    assert (error.value.status, error.value.code) == (409, 20009)
    wait_status(tenant.client, message.sid, {"delivered"})
    assert tenant.client.messages(message.sid).update(body="").body == ""
    with pytest.raises(TwilioRestException):
        tenant.client.messages(message.sid).update(body="new text")
    assert tenant.client.messages(message.sid).delete() is True
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messages(message.sid).fetch()
    assert error.value.code == 20404


def test_schedule_and_cancel(tenant: Tenant, sender: str) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="scheduler")
    number = tenant.client.incoming_phone_numbers.list(phone_number=sender)[0]
    tenant.client.messaging.v1.services(service.sid).phone_numbers.create(
        phone_number_sid=number.sid
    )
    send_at = datetime.now(UTC) + timedelta(hours=1)
    message = tenant.client.messages.create(
        to=TO,
        messaging_service_sid=service.sid,
        body="later",
        schedule_type="fixed",
        send_at=send_at,
    )
    assert message.status == "scheduled"
    canceled = tenant.client.messages(message.sid).update(status="canceled")
    assert canceled.status == "canceled"
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messages(message.sid).update(status="canceled")
    assert error.value.code == 30409
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messages.create(
            to=TO,
            messaging_service_sid=service.sid,
            body="too soon",
            schedule_type="fixed",
            send_at=datetime.now(UTC) + timedelta(minutes=1),
        )
    assert error.value.code == 35114
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messages.create(
            to=TO, from_=sender, body="x", schedule_type="fixed", send_at=send_at
        )
    assert error.value.code == 35111
