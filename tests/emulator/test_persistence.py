"""State survives restarts (graceful and killed); the bootstrap account and its default service
are created once; messages in flight resume their lifecycle."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from emulator.defaults import DEV_ACCOUNT_SID
from tests.support.emulator_process import EmulatorProcess

ClientFor = Callable[..., Client]


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_everything_survives_a_restart(tmp_path: Path, hard: bool, client_for: ClientFor) -> None:
    with EmulatorProcess(tmp_path, extra_args=["--lifecycle-step-ms", "20"]) as emulator:
        parent = client_for(emulator)
        sub = parent.api.v2010.accounts.create(friendly_name="durable")
        tenant = client_for(emulator, sub.sid, sub.auth_token)
        key = tenant.api.v2010.accounts(sub.sid).new_keys.create(friendly_name="app")
        iam_key = tenant.iam.v1.new_api_key.create(
            account_sid=sub.sid,
            key_type="restricted",
            policy={"allow": ["/twilio/messaging/messages/read"]},
        )
        candidate = tenant.available_phone_numbers("US").local.list(area_code=415, limit=1)[0]
        number = tenant.incoming_phone_numbers.create(
            phone_number=candidate.phone_number, sms_url="https://h.example.com/s"
        )
        service = tenant.messaging.v1.services.create(
            friendly_name="notify", status_callback="https://h.example.com/st"
        )
        tenant.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number.sid)
        alpha = tenant.messaging.v1.services(service.sid).alpha_senders.create(alpha_sender="Acme")
        message = tenant.messages.create(
            to="+14155550100", messaging_service_sid=service.sid, body="persist me"
        )
        port = emulator.port

        emulator.restart(hard=hard)
        assert emulator.port == port

        parent = client_for(emulator)
        tenant = client_for(emulator, sub.sid, sub.auth_token)
        assert parent.api.v2010.accounts(sub.sid).fetch().friendly_name == "durable"
        assert [a.sid for a in parent.api.v2010.accounts.list()].count(DEV_ACCOUNT_SID) == 1
        assert tenant.api.v2010.accounts(sub.sid).keys(key.sid).fetch().friendly_name == "app"
        assert tenant.iam.v1.api_key(iam_key.sid).fetch().policy == {
            "allow": ["/twilio/messaging/messages/read"]
        }
        # The key secret still authenticates (kept as a hash, never shown again).
        assert client_for(emulator, key.sid, key.secret, sub.sid).messages.list()
        assert (
            tenant.incoming_phone_numbers(number.sid).fetch().sms_url == "https://h.example.com/s"
        )
        assert (
            tenant.messaging.v1.services(service.sid).fetch().status_callback
            == "https://h.example.com/st"
        )
        assert [p.sid for p in tenant.messaging.v1.services(service.sid).phone_numbers.list()] == [
            number.sid
        ]
        assert (
            tenant.messaging.v1.services(service.sid).alpha_senders(alpha.sid).fetch().alpha_sender
            == "Acme"
        )
        assert tenant.messages(message.sid).fetch().body == "persist me"
        default_services = [
            s for s in tenant.messaging.v1.services.list() if s.friendly_name.startswith("[Auto")
        ]
        assert len(default_services) == 1


def test_messages_in_flight_resume_after_a_restart(tmp_path: Path, client_for: ClientFor) -> None:
    with EmulatorProcess(tmp_path, extra_args=["--lifecycle-step-ms", "400"]) as emulator:
        client = client_for(emulator)
        phone = (
            client.available_phone_numbers("US").local.list(area_code=415, limit=1)[0].phone_number
        )
        client.incoming_phone_numbers.create(phone_number=phone)
        message = client.messages.create(to="+14155550100", from_=phone, body="x")
        emulator.restart(hard=True)
        emulator.set_faults(lifecycle_step_ms=20)
        client = client_for(emulator)
        deadline = time.monotonic() + 10
        while client.messages(message.sid).fetch().status != "delivered":
            assert time.monotonic() < deadline, "the message never finished after the restart"
            time.sleep(0.05)


def test_overridden_bootstrap_credentials(tmp_path: Path, client_for: ClientFor) -> None:
    sid, token = "AC" + "ab" * 16, "t0ken" * 6
    with EmulatorProcess(tmp_path, account_sid=sid, auth_token=token) as emulator:
        assert client_for(emulator).api.v2010.accounts(sid).fetch().auth_token == token
        with pytest.raises(TwilioRestException) as error:
            client_for(
                emulator, DEV_ACCOUNT_SID, "c0ffeec0ffeec0ffeec0ffeec0ffee00"
            ).api.v2010.accounts(DEV_ACCOUNT_SID).fetch()
        assert error.value.code == 20003


def test_no_default_service_flag(tmp_path: Path, client_for: ClientFor) -> None:
    with EmulatorProcess(tmp_path, extra_args=["--no-default-service"]) as emulator:
        client = client_for(emulator)
        assert client.messaging.v1.services.list() == []
        sub = client.api.v2010.accounts.create()
        assert client_for(emulator, sub.sid, sub.auth_token).messaging.v1.services.list() == []
        phone = client.available_phone_numbers("US").local.list(limit=1)[0].phone_number
        client.incoming_phone_numbers.create(phone_number=phone)
        assert (
            client.messages.create(to="+14155550100", from_=phone, body="x").messaging_service_sid
            is None
        )
