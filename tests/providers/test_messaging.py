"""MessagingService, DefaultMessagingService, PhoneNumber and SenderPool against the emulator."""

from __future__ import annotations

import secrets
from collections import Counter

import pytest

from identity_tags import parse_tag
from providers.api_key import ApiKeyProvider
from providers.default_messaging_service import DefaultMessagingServiceProvider
from providers.errors import TwilioResourceError
from providers.messaging_service import MessagingServiceProvider
from providers.phone_number import PhoneNumberProvider
from providers.sender_pool import SenderPoolProvider
from tests.providers.conftest import STATE_MARK, named
from tests.providers.test_api_key import key_inputs
from tests.support.emulator_process import running_emulator
from tests.support.estate import subaccount_client

CALLBACK = "http://127.0.0.1:4020/twilio/status"


def service_inputs(account_sid: str, use_case: str = "notifications", **settings) -> dict:
    tag = secrets.token_hex(5)
    return {
        "account_key": "acme",
        "account_sid": account_sid,
        "tag": tag,
        "state_mark": STATE_MARK,
        "friendly_name": named(f"Acme {use_case}", tag),
        "use_case": use_case,
        "status_callback": CALLBACK,
        **settings,
    }


def number_inputs(account_sid: str, **choice) -> dict:
    tag = secrets.token_hex(5)
    return {
        "account_key": "acme",
        "account_sid": account_sid,
        "use_case": "notifications",
        "tag": tag,
        "state_mark": STATE_MARK,
        "friendly_name": named("Acme notifications #1", tag),
        "country": "US",
        **(choice or {"area_code": "415"}),
    }


def pool_inputs(account_sid: str, service_sid: str, numbers: list[str], **extra) -> dict:
    return {
        "account_key": "acme",
        "account_sid": account_sid,
        "use_case": "notifications",
        "service_sid": service_sid,
        "phone_number_sids": numbers,
        **extra,
    }


def pool_writes(emulator) -> int:
    routes = emulator.stats()["routes"]
    return sum(
        count
        for route, count in routes.items()
        if route.startswith(("POST", "DELETE")) and "/PhoneNumbers" in route
    )


def test_service_settings_update_in_place_and_drift_is_read(configured, emulator, subaccount_sid):
    provider = configured(MessagingServiceProvider)
    props = service_inputs(subaccount_sid, sticky_sender=True, validity_period=600)
    created = provider.create(props)
    twilio = subaccount_client(emulator, subaccount_sid).messaging.v1.services(created.id)
    assert (twilio.fetch().validity_period, twilio.fetch().status_callback) == (600, CALLBACK)
    assert provider.diff(created.id, created.outs, props).changes is False

    marketing = dict(props, use_case="marketing", validity_period=900)
    diff = provider.diff(created.id, created.outs, marketing)
    assert diff.changes is True and diff.replaces == []
    updated = provider.update(created.id, created.outs, marketing).outs
    assert (twilio.fetch().usecase, twilio.fetch().validity_period) == ("marketing", 900)

    twilio.update(inbound_request_url="https://elsewhere.example/hook")
    drifted = provider.read(created.id, updated).outs
    assert drifted["inbound_request_url"] == "https://elsewhere.example/hook"
    assert provider.diff(created.id, drifted, marketing).changes is True

    provider.delete(created.id, drifted)
    assert provider.read(created.id, dict(drifted, created_at=0)).id is None


def test_service_create_adopts_its_tag(configured, emulator, subaccount_sid, new_run) -> None:
    provider = configured(MessagingServiceProvider)
    props = service_inputs(subaccount_sid)
    first = provider.create(props)
    new_run()  # state lost: the next run finds the service by its tag
    assert provider.create(dict(props, sticky_sender=False)).id == first.id
    services = subaccount_client(emulator, subaccount_sid).messaging.v1.services.list()
    assert [s.sid for s in services if parse_tag(s.friendly_name) == props["tag"]] == [first.id]
    assert services[0].sticky_sender is not None


def test_default_service_is_adopted_never_created_or_deleted(configured, emulator, subaccount_sid):
    provider = configured(DefaultMessagingServiceProvider)
    props = {"account_key": "acme", "account_sid": subaccount_sid, "status_callback": CALLBACK}
    adopted = provider.create(props)
    services = subaccount_client(emulator, subaccount_sid).messaging.v1.services
    default = services(adopted.id).fetch()
    assert default.friendly_name == "[Auto-generated] Default Messaging Service"
    assert default.status_callback == CALLBACK
    provider.delete(adopted.id, adopted.outs)
    assert services(adopted.id).fetch().status_callback in (None, "")


def test_no_default_service_records_none(configured, tmp_path, monkeypatch) -> None:
    from providers.subaccount import SubaccountProvider

    with running_emulator(tmp_path, extra_args=["--no-default-service"]) as bare:
        monkeypatch.setenv("TWILIO_EMULATOR_URL", bare.url)
        tag = secrets.token_hex(5)
        sid = configured(SubaccountProvider).create(
            {"account_key": "acme", "environment": "development", "role": "shared",
             "friendly_name": named("Acme", tag), "tag": tag,
             "state_mark": STATE_MARK}
        ).id  # fmt: skip
        provider = configured(DefaultMessagingServiceProvider)
        created = provider.create({"account_key": "acme", "account_sid": sid})
        assert created.outs["sid"] == "none"
        assert provider.read(created.id, created.outs).id == created.id
        provider.delete(created.id, created.outs)


def test_numbers_are_bought_by_search_or_exact_and_released_only_when_allowed(
    configured, emulator, subaccount_sid, new_run
) -> None:
    provider = configured(PhoneNumberProvider)
    searched = provider.create(number_inputs(subaccount_sid, area_code="415"))
    assert searched.outs["number"].startswith("+1415")
    exact = provider.create(
        dict(number_inputs(subaccount_sid, phone_number="+14155550199"), release_on_delete=True)
    )
    assert exact.outs["number"] == "+14155550199"
    numbers = emulator.client().api.v2010.accounts(subaccount_sid).incoming_phone_numbers
    assert {n.sid for n in numbers.list()} == {searched.id, exact.id}

    new_run()
    again = provider.create(number_inputs(subaccount_sid, area_code="415") | {
        "tag": searched.outs["tag"], "friendly_name": searched.outs["friendly_name"]
    })  # fmt: skip
    assert again.id == searched.id  # adopted by tag, not bought twice

    provider.delete(searched.id, searched.outs)  # retained: release_on_delete is false
    provider.delete(exact.id, exact.outs)
    assert {n.sid for n in numbers.list()} == {searched.id}


def test_pool_attaches_moves_and_refuses_foreign_services(
    configured, emulator, subaccount_sid, new_run
):
    services = configured(MessagingServiceProvider)
    notifications = services.create(service_inputs(subaccount_sid, "notifications"))
    verification = services.create(service_inputs(subaccount_sid, "verification"))
    numbers = configured(PhoneNumberProvider)
    first, second = (
        numbers.create(number_inputs(subaccount_sid, area_code="415")).id for _ in range(2)
    )
    pool = configured(SenderPoolProvider)

    created = pool.create(pool_inputs(subaccount_sid, notifications.id, [first, second]))
    assert created.outs["sender_count"] == 2
    assert {s["status"] for s in created.outs["senders"]} == {"attached"}

    # In a later run, a sender in a service of this tenant (its tag is known) is moved, not
    # refused.
    new_run()
    moving = pool_inputs(
        subaccount_sid, verification.id, [second],
        movable_from_tags=[notifications.outs["tag"]],
    )  # fmt: skip
    moved = pool.create(moving)
    assert [s["status"] for s in moved.outs["senders"]] == ["moved"]
    twilio = subaccount_client(emulator, subaccount_sid).messaging.v1.services
    assert [n.sid for n in twilio(verification.id).phone_numbers.list()] == [second]
    assert [n.sid for n in twilio(notifications.id).phone_numbers.list()] == [first]

    # Attaching what is already there is success (Twilio's 21710), reported as such.
    assert pool.update("pool", moved.outs, moving).outs["senders"][0]["status"] == "attached"

    # A sender held by a service outside the stack fails before any write, naming both.
    foreign = pool_inputs(subaccount_sid, verification.id, [second, first])
    writes_before = pool_writes(emulator)
    with pytest.raises(TwilioResourceError) as refused:
        pool.update("pool", moved.outs, foreign)
    message = str(refused.value)
    assert first in message and notifications.id in message and verification.id in message
    assert "21712" in message
    assert [n.sid for n in twilio(verification.id).phone_numbers.list()] == [second]
    assert pool_writes(emulator) == writes_before

    # Drift in the pool shows in read; delete detaches what the pool holds.
    twilio(verification.id).phone_numbers(second).delete()
    assert pool.read("pool", moved.outs).outs["phone_number_sids"] == []
    pool.delete("pool", moving)


def test_pool_check_enforces_the_sender_limit(configured) -> None:
    pool = configured(SenderPoolProvider)
    too_many = pool_inputs("AC" + "0" * 32, "MG" + "0" * 32, [f"PN{i:032x}" for i in range(401)])
    reasons = [f.reason for f in pool.check({}, too_many).failures]
    assert any("401 senders" in reason and "at most 400" in reason for reason in reasons)


def test_a_run_looks_for_nothing_inside_what_it_created_itself(
    configured, emulator, subaccount_sid, new_run
) -> None:
    """The subaccount (made by the fixture, in this run) is new: its service, numbers, key and
    pool are created without a single look-up, and the numbers bought by area code in one call."""
    before = Counter(emulator.stats()["routes"])
    service = configured(MessagingServiceProvider).create(service_inputs(subaccount_sid))
    numbers = configured(PhoneNumberProvider)
    bought = [numbers.create(number_inputs(subaccount_sid, area_code="510")) for _ in range(2)]
    configured(ApiKeyProvider).create(key_inputs(subaccount_sid, "standard"))
    pool = configured(SenderPoolProvider).create(
        pool_inputs(subaccount_sid, service.id, [number.id for number in bought])
    )
    assert {s["status"] for s in pool.outs["senders"]} == {"attached"}
    calls = Counter(emulator.stats()["routes"])
    calls.subtract(before)
    reads = {route: n for route, n in calls.items() if n and route.startswith("GET")}
    # Not even the subaccount's token: it came with the subaccount's create answer.
    assert reads == {}
    assert sum(n for route, n in calls.items() if route.startswith("POST")) == 6

    new_run()  # a later run does look, and adopts
    again = configured(MessagingServiceProvider).create(
        service_inputs(subaccount_sid) | {k: service.outs[k] for k in ("tag", "friendly_name")}
    )
    assert again.id == service.id
