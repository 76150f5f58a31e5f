"""Subaccount: create, adopt, rename, suspend, drift, close; no twin when an answer is lost."""

from __future__ import annotations

import pytest

from identity_tags import parse_tag
from providers.errors import TwilioResourceError
from providers.subaccount import SubaccountProvider
from tests.providers.conftest import STATE_MARK, named
from tests.support.emulator_process import EmulatorProcess


def inputs(tag: str, human: str = "Acme (development)", **extra) -> dict:
    return {
        "account_key": "acme",
        "environment": "development",
        "role": "shared",
        "friendly_name": named(human, tag),
        "tag": tag,
        "state_mark": STATE_MARK,
        **extra,
    }


def accounts_tagged(emulator: EmulatorProcess, tag: str) -> list:
    return [
        a
        for a in emulator.client().api.v2010.accounts.list(page_size=1000)
        if parse_tag(a.friendly_name) == tag
    ]


def test_create_read_update_delete(configured, emulator: EmulatorProcess, tag: str) -> None:
    provider = configured(SubaccountProvider)
    created = provider.create(inputs(tag))
    assert created.id.startswith("AC") and created.outs["status"] == "active"
    assert created.outs["owner_account_sid"] == emulator.account_sid
    assert "auth_token" not in created.outs

    props = created.outs
    assert provider.diff(created.id, props, inputs(tag)).changes is False
    renamed = inputs(tag, "Acme Corp (development)")
    diff = provider.diff(created.id, props, renamed)
    assert diff.changes is True and diff.replaces == []

    updated = provider.update(created.id, props, dict(renamed, status="suspended")).outs
    assert updated["friendly_name"].startswith("Acme Corp") and updated["status"] == "suspended"

    emulator.client().api.v2010.accounts(created.id).update(friendly_name="edited in console")
    read = provider.read(created.id, updated)
    assert read.id == created.id and read.outs["friendly_name"] == "edited in console"
    assert provider.diff(created.id, read.outs, renamed).changes is True

    provider.delete(created.id, read.outs)
    assert emulator.client().api.v2010.accounts(created.id).fetch().status == "closed"
    assert provider.read(created.id, read.outs).id is None  # closed reads as gone


def test_create_adopts_the_account_carrying_its_tag(configured, emulator, tag) -> None:
    provider = configured(SubaccountProvider)
    first = provider.create(inputs(tag))
    again = provider.create(inputs(tag, "Acme renamed (development)"))
    assert again.id == first.id
    assert again.outs["friendly_name"].startswith("Acme renamed")
    assert len(accounts_tagged(emulator, tag)) == 1


def test_a_closed_account_is_never_adopted(configured, emulator, tag) -> None:
    provider = configured(SubaccountProvider)
    first = provider.create(inputs(tag))
    provider.delete(first.id, first.outs)
    second = provider.create(inputs(tag))
    assert second.id != first.id
    assert sorted(a.status for a in accounts_tagged(emulator, tag)) == ["active", "closed"]


@pytest.mark.parametrize("fault", ["commit_then_500", "commit_then_drop"])
def test_a_lost_create_answer_makes_no_twin(configured, emulator, tag, fault) -> None:
    emulator.set_faults(script=[fault], path_pattern=r"/Accounts\.json$", methods=["POST"])
    created = configured(SubaccountProvider).create(inputs(tag))
    [only] = accounts_tagged(emulator, tag)
    assert only.sid == created.id


def test_429_and_503_are_retried(configured, emulator, tag) -> None:
    emulator.set_faults(script=["429", "503", "429"], retry_after_seconds=0)
    created = configured(SubaccountProvider).create(inputs(tag))
    assert len(accounts_tagged(emulator, tag)) == 1
    assert created.outs["status"] == "active"


def test_a_read_right_after_create_waits_for_twilio_to_catch_up(configured, emulator, tag):
    provider = configured(SubaccountProvider)
    emulator.set_faults(eventual_consistency_ms=1500)
    created = provider.create(inputs(tag))
    read = provider.read(created.id, created.outs)
    assert read.id == created.id


def test_closing_refuses_while_numbers_remain(configured, emulator, tag) -> None:
    provider = configured(SubaccountProvider)
    created = provider.create(inputs(tag))
    emulator.client().api.v2010.accounts(created.id).incoming_phone_numbers.create(area_code="415")
    with pytest.raises(TwilioResourceError) as refused:
        provider.delete(created.id, created.outs)
    assert "still holds phone numbers" in str(refused.value)
    assert "release_on_delete" in str(refused.value)
    assert emulator.client().api.v2010.accounts(created.id).fetch().status == "active"


def test_check_names_the_field_and_the_rule(configured) -> None:
    result = configured(SubaccountProvider).check({}, {"account_key": "acme", "tag": "nope"})
    problems = {failure.property: failure.reason for failure in result.failures}
    assert "tag" in problems and "environment" in problems and "friendly_name" in problems
    assert all(reason.startswith("Subaccount:") for reason in problems.values())
