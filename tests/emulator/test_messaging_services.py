"""Messaging v1 Services and their sender pools through the official client."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.emulator.conftest import Tenant, buy_number
from tests.support.emulator_process import EmulatorProcess

EVERY_PARAMETER = {
    "friendly_name": "notifications",
    "inbound_request_url": "https://hooks.example.com/inbound",
    "inbound_method": "GET",
    "fallback_url": "https://hooks.example.com/fallback",
    "fallback_method": "GET",
    "status_callback": "https://hooks.example.com/status",
    "sticky_sender": False,
    "mms_converter": False,
    "smart_encoding": False,
    "scan_message_content": "disable",
    "fallback_to_long_code": False,
    "area_code_geomatch": False,
    "validity_period": 600,
    "synchronous_validation": True,
    "usecase": "notifications",
    "use_inbound_webhook_on_number": True,
}


def test_create_with_every_parameter_echoes_them(tenant: Tenant, emulator: EmulatorProcess) -> None:
    service = tenant.client.messaging.v1.services.create(**EVERY_PARAMETER)
    for name, value in EVERY_PARAMETER.items():
        assert getattr(service, name) == value, name
    assert service.account_sid == tenant.sid
    assert service.url == f"{emulator.url}/messaging/v1/Services/{service.sid}"
    assert service.links["phone_numbers"] == f"{service.url}/PhoneNumbers"
    assert service.us_app_to_person_registered is False


def test_defaults_when_only_a_name_is_given(tenant: Tenant) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="bare")
    assert service.inbound_method == "POST" and service.fallback_method == "POST"
    assert service.sticky_sender is True and service.area_code_geomatch is True
    assert service.scan_message_content == "inherit"
    assert service.validity_period == 36000
    assert service.status_callback is None and service.inbound_request_url is None


def test_update_every_parameter(tenant: Tenant) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="before")
    updated = tenant.client.messaging.v1.services(service.sid).update(**EVERY_PARAMETER)
    for name, value in EVERY_PARAMETER.items():
        assert getattr(updated, name) == value, name
    cleared = tenant.client.messaging.v1.services(service.sid).update(status_callback="")
    assert cleared.status_callback is None
    assert tenant.client.messaging.v1.services(service.sid).fetch().friendly_name == "notifications"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"friendly_name": ""}, 20001),
        ({"friendly_name": "x", "validity_period": 0}, 21624),
        ({"friendly_name": "x", "usecase": "promo"}, 21713),
        ({"friendly_name": "x", "status_callback": "ftp://x"}, 21609),
        ({"friendly_name": "x", "inbound_method": "PUT"}, 20001),
        ({"friendly_name": "x" * 65}, 20002),
    ],
)
def test_create_validation(tenant: Tenant, params: dict, code: int) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messaging.v1.services.create(**params)
    assert (error.value.status, error.value.code) == (400, code)


def test_services_belong_to_the_signing_account(parent: Client, tenant: Tenant) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="tenant-only")
    assert service.sid not in {s.sid for s in parent.messaging.v1.services.list()}
    with pytest.raises(TwilioRestException) as error:
        parent.messaging.v1.services(service.sid).fetch()
    assert error.value.code == 20404


def test_delete_service_keeps_its_numbers(tenant: Tenant) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="temp")
    number_sid = buy_number(tenant.client)
    tenant.client.messaging.v1.services(service.sid).phone_numbers.create(
        phone_number_sid=number_sid
    )
    assert tenant.client.messaging.v1.services(service.sid).delete() is True
    with pytest.raises(TwilioRestException):
        tenant.client.messaging.v1.services(service.sid).fetch()
    assert tenant.client.incoming_phone_numbers(number_sid).fetch().sid == number_sid
    other = tenant.client.messaging.v1.services.create(friendly_name="next")
    tenant.client.messaging.v1.services(other.sid).phone_numbers.create(phone_number_sid=number_sid)


def test_phone_number_pool_rules(tenant: Tenant, emulator: EmulatorProcess) -> None:
    services = tenant.client.messaging.v1.services
    first = services.create(friendly_name="first")
    second = services.create(friendly_name="second")
    number_sid = buy_number(tenant.client)
    member = services(first.sid).phone_numbers.create(phone_number_sid=number_sid)
    assert member.sid == number_sid and member.service_sid == first.sid
    assert member.capabilities == ["MMS", "SMS", "Voice"]
    assert (
        member.url == f"{emulator.url}/messaging/v1/Services/{first.sid}/PhoneNumbers/{number_sid}"
    )
    with pytest.raises(TwilioRestException) as error:
        services(first.sid).phone_numbers.create(phone_number_sid=number_sid)
    assert (error.value.status, error.value.code) == (409, 21710)
    with pytest.raises(TwilioRestException) as error:
        services(second.sid).phone_numbers.create(phone_number_sid=number_sid)
    assert (error.value.status, error.value.code) == (409, 21712)
    assert [p.sid for p in services(first.sid).phone_numbers.list()] == [number_sid]
    assert services(first.sid).phone_numbers(number_sid).fetch().phone_number.startswith("+1415")
    assert services(first.sid).phone_numbers(number_sid).delete() is True
    assert services(first.sid).phone_numbers.list() == []
    # Leaving a pool does not release the number: it can join another service.
    assert (
        services(second.sid).phone_numbers.create(phone_number_sid=number_sid).service_sid
        == second.sid
    )


def test_pool_refuses_voice_only_and_foreign_numbers(tenant: Tenant, parent: Client) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="pool")
    voice_only = buy_number(tenant.client, sms=False)
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messaging.v1.services(service.sid).phone_numbers.create(
            phone_number_sid=voice_only
        )
    assert error.value.code == 21715
    foreign = buy_number(parent)
    with pytest.raises(TwilioRestException) as error:
        tenant.client.messaging.v1.services(service.sid).phone_numbers.create(
            phone_number_sid=foreign
        )
    assert error.value.code == 21421


def test_pool_limit_is_400_senders(tenant: Tenant) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="big")
    pool = tenant.client.messaging.v1.services(service.sid).phone_numbers
    numbers = tenant.client.available_phone_numbers("US").local.list(
        sms_enabled=True, page_size=401, limit=401
    )
    assert len(numbers) == 401
    for number in numbers[:400]:
        sid = tenant.client.incoming_phone_numbers.create(phone_number=number.phone_number).sid
        pool.create(phone_number_sid=sid)
    last = tenant.client.incoming_phone_numbers.create(phone_number=numbers[400].phone_number).sid
    with pytest.raises(TwilioRestException) as error:
        pool.create(phone_number_sid=last)
    assert error.value.code == 21714


def test_short_code_pool(tenant: Tenant, emulator: EmulatorProcess) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="sc")
    short_code = emulator.provision_short_code(tenant.sid)
    pool = tenant.client.messaging.v1.services(service.sid).short_codes
    member = pool.create(short_code_sid=short_code["sid"])
    assert (member.short_code, member.capabilities) == (short_code["short_code"], ["SMS"])
    assert [m.sid for m in pool.list()] == [short_code["sid"]]
    assert pool(short_code["sid"]).fetch().country_code == "US"
    with pytest.raises(TwilioRestException) as error:
        pool.create(short_code_sid=short_code["sid"])
    assert error.value.code == 21710
    assert pool(short_code["sid"]).delete() is True
    with pytest.raises(TwilioRestException) as error:
        pool.create(short_code_sid="SC" + "0" * 32)
    assert error.value.code == 21421


def test_alpha_sender_pool(tenant: Tenant) -> None:
    service = tenant.client.messaging.v1.services.create(friendly_name="alpha")
    pool = tenant.client.messaging.v1.services(service.sid).alpha_senders
    member = pool.create(alpha_sender="Acme")
    assert member.sid.startswith("AI") and member.alpha_sender == "Acme"
    assert member.capabilities == ["SMS"]
    assert [m.sid for m in pool.list()] == [member.sid]
    assert pool(member.sid).fetch().alpha_sender == "Acme"
    with pytest.raises(TwilioRestException) as error:
        pool.create(alpha_sender="Acme")
    assert error.value.code == 21710
    for invalid in ("123456", "TooLongSender1", "bad!char"):
        with pytest.raises(TwilioRestException) as error:
            pool.create(alpha_sender=invalid)
        assert error.value.status == 400
    assert pool(member.sid).delete() is True
    assert pool.list() == []


def test_v1_pages_stay_on_the_emulator(tenant: Tenant, emulator: EmulatorProcess) -> None:
    for index in range(5):
        tenant.client.messaging.v1.services.create(friendly_name=f"paged-{index}")
    page = tenant.client.messaging.v1.services.page(page_size=2)
    next_url = page.next_page_url
    assert next_url is not None and next_url.startswith(f"{emulator.url}/messaging/v1/Services?")
    query = parse_qs(urlsplit(next_url).query)
    assert query["PageSize"] == ["2"] and query["Page"] == ["1"] and "PageToken" in query
    assert page._payload["meta"]["key"] == "services"
    assert (
        page._payload["meta"]["first_page_url"]
        == f"{emulator.url}/messaging/v1/Services?PageSize=2&Page=0"
    )
    names = [s.friendly_name for s in tenant.client.messaging.v1.services.list(page_size=2)]
    assert names == [
        "[Auto-generated] Default Messaging Service",
        *[f"paged-{i}" for i in range(5)],
    ]


def test_unknown_service_is_404_on_every_sub_resource(tenant: Tenant) -> None:
    missing = tenant.client.messaging.v1.services("MG" + "0" * 32)
    with pytest.raises(TwilioRestException):
        missing.update(friendly_name="x")
    with pytest.raises(TwilioException):
        missing.phone_numbers.list()
    with pytest.raises(TwilioRestException) as error:
        missing.alpha_senders.create(alpha_sender="Acme")
    assert error.value.code == 20404
