"""Adoption by tag never crosses states, and a lost answer with lagging lists makes no twin.

The providers are called as the engine's provider process calls them, against the emulator:
- an object with our tag that another state made (another state mark), or that this state
  made longer ago than the recovery window, stops the create in one line, with no write;
- `TLZ_ADOPT=<SID>` adopts it explicitly, and it takes this state's mark;
- an API key is deleted only when an interrupted run of this state minted it;
- a create whose answer is lost while lists lag 2 s finds what it made (no twin);
- twins (two of ours with one tag) are removed by the next create or by refresh;
- a twin that lists show only after the lost-answer window (the create was tried again) is
  removed by the next `up`: its diff finds it and asks for an update, which deletes the twin
  and nothing else; with no twin there, the diff is clean.
"""

from __future__ import annotations

import secrets

import pytest

from identity_tags import friendly_name, parse_state_mark, parse_tag, with_state_mark
from providers.api_key import ApiKeyProvider
from providers.identity import (
    ADOPT_ENV,
    CREATE_ATTEMPTS,
    LOST_ANSWER_OUTPUT,
    LOST_ANSWER_WINDOW_ENV,
    RECOVERY_WINDOW_ENV,
    ForeignObjectError,
)
from providers.messaging_service import MessagingServiceProvider
from providers.phone_number import PhoneNumberProvider
from providers.subaccount import SubaccountProvider
from tests.providers.conftest import OTHER_STATE_MARK, STATE_MARK
from tests.support.estate import subaccount_client

LAG_MS = 2000  # lists and fetches lag this long behind creates


def writes(emulator) -> int:
    routes = emulator.stats()["routes"]
    return sum(n for route, n in routes.items() if route.split()[0] in ("POST", "DELETE"))


def account_inputs(tag: str, mark: str = STATE_MARK) -> dict:
    return {
        "account_key": "acme",
        "environment": "development",
        "role": "shared",
        "friendly_name": friendly_name("Acme (development)", tag),
        "tag": tag,
        "state_mark": mark,
    }


def key_inputs(account_sid: str, tag: str, mark: str = STATE_MARK) -> dict:
    return {
        "account_key": "acme",
        "account_sid": account_sid,
        "key_name": "backend",
        "kind": "standard",
        "permissions": [],
        "rotation": 0,
        "friendly_name": friendly_name("Acme backend", tag),
        "tag": tag,
        "state_mark": mark,
    }


def service_inputs(account_sid: str, tag: str, mark: str = STATE_MARK) -> dict:
    return {
        "account_key": "acme",
        "account_sid": account_sid,
        "tag": tag,
        "state_mark": mark,
        "friendly_name": friendly_name("Acme notifications", tag),
        "use_case": "notifications",
    }


def number_inputs(account_sid: str, tag: str, mark: str = STATE_MARK) -> dict:
    return {
        "account_key": "acme",
        "account_sid": account_sid,
        "use_case": "notifications",
        "tag": tag,
        "state_mark": mark,
        "friendly_name": friendly_name("Acme notifications #1", tag),
        "country": "US",
        "area_code": "415",
        "release_on_delete": True,
    }


def test_another_states_subaccount_stops_the_create_with_no_write(
    configured, emulator, tag, new_run
) -> None:
    provider = configured(SubaccountProvider)
    theirs = provider.create(account_inputs(tag, OTHER_STATE_MARK))
    new_run()
    before = writes(emulator)
    with pytest.raises(ForeignObjectError) as refused:
        provider.create(account_inputs(tag))
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("Subaccount 'acme': Twilio already holds " + theirs.id)
    assert "created 0 s ago" in message or "created 1 s ago" in message
    assert "another Pulumi state" in message and "nothing was changed" in message
    assert "same backend and stack" in message and f"{ADOPT_ENV}={theirs.id}" in message
    assert writes(emulator) == before


def test_this_states_object_older_than_the_window_is_not_adopted(
    configured, emulator, tag, new_run, monkeypatch
) -> None:
    provider = configured(SubaccountProvider)
    provider.create(account_inputs(tag))
    new_run()
    monkeypatch.setenv(RECOVERY_WINDOW_ENV, "0")
    with pytest.raises(ForeignObjectError, match="longer ago than the recovery window"):
        provider.create(account_inputs(tag))


def test_an_object_is_adopted_explicitly_by_sid_and_takes_this_states_mark(
    configured, emulator, tag, new_run, monkeypatch
) -> None:
    provider = configured(SubaccountProvider)
    theirs = provider.create(account_inputs(tag, OTHER_STATE_MARK))
    new_run()
    monkeypatch.setenv(ADOPT_ENV, f"PN00000000000000000000000000000000,{theirs.id}")
    ours = provider.create(account_inputs(tag))
    assert ours.id == theirs.id
    name = emulator.client().api.v2010.accounts(ours.id).fetch().friendly_name
    assert parse_state_mark(name) == STATE_MARK
    assert ours.outs["friendly_name"] == account_inputs(tag)["friendly_name"]  # as planned


def test_another_states_api_key_is_never_deleted(
    configured, emulator, subaccount_sid, new_run, monkeypatch
) -> None:
    tag = secrets.token_hex(5)
    provider = configured(ApiKeyProvider)
    theirs = provider.create(key_inputs(subaccount_sid, tag, OTHER_STATE_MARK))
    new_run()
    before = writes(emulator)
    with pytest.raises(ForeignObjectError, match="the state then holds the key without its secret"):
        provider.create(key_inputs(subaccount_sid, tag))
    assert writes(emulator) == before
    app = emulator.client(theirs.id, theirs.outs["secret"], subaccount_sid)
    assert app.api.v2010.accounts(subaccount_sid).incoming_phone_numbers.list() == []

    # Adopted explicitly: kept (never re-minted), without its secret.
    monkeypatch.setenv(ADOPT_ENV, theirs.id)
    adopted = provider.create(key_inputs(subaccount_sid, tag))
    assert adopted.id == theirs.id and adopted.outs["secret"] is None
    assert app.api.v2010.accounts(subaccount_sid).incoming_phone_numbers.list() == []


def test_a_key_an_interrupted_run_of_this_state_minted_is_replaced(
    configured, emulator, subaccount_sid, new_run
) -> None:
    tag = secrets.token_hex(5)
    provider = configured(ApiKeyProvider)
    lost = provider.create(key_inputs(subaccount_sid, tag))  # its run died before state saw it
    new_run()
    again = provider.create(key_inputs(subaccount_sid, tag))
    assert again.id != lost.id and again.outs["removed_twins"]["sids"] == [lost.id]
    keys = emulator.client().api.v2010.accounts(subaccount_sid).keys.list()
    assert [k.sid for k in keys if parse_tag(k.friendly_name) == tag] == [again.id]


def _lose_the_next_create(emulator, path: str, fault: str) -> None:
    emulator.set_faults(
        eventual_consistency_ms=LAG_MS, script=[fault], path_pattern=path, methods=["POST"]
    )


def _created_types(subaccount_sid: str) -> list:
    """Each created type: its provider, the create's path, and its inputs for a tag."""
    return [
        (SubaccountProvider, r"/Accounts\.json$", lambda t: account_inputs(t)),
        (ApiKeyProvider, r"/Keys\.json$", lambda t: key_inputs(subaccount_sid, t)),
        (MessagingServiceProvider, r"/Services$", lambda t: service_inputs(subaccount_sid, t)),
        (
            PhoneNumberProvider,
            r"/IncomingPhoneNumbers\.json$",
            lambda t: number_inputs(subaccount_sid, t),
        ),
    ]


@pytest.mark.parametrize("fault", ["commit_then_500", "commit_then_drop"])
def test_a_lost_answer_with_lagging_lists_makes_no_twin(
    configured, emulator, subaccount_sid, fault
) -> None:
    """Every created type, its create's answer lost while lists lag 2 s."""
    client = emulator.client()
    cases = _created_types(subaccount_sid)
    for provider_class, path, make_inputs in cases:
        tag = secrets.token_hex(5)
        _lose_the_next_create(emulator, path, fault)
        created = configured(provider_class).create(make_inputs(tag))
        emulator.set_faults(eventual_consistency_ms=0, script=[])
        if provider_class is SubaccountProvider:
            found = client.api.v2010.accounts.list(page_size=1000)
        elif provider_class is ApiKeyProvider:
            found = client.api.v2010.accounts(subaccount_sid).keys.list()
        elif provider_class is MessagingServiceProvider:
            found = subaccount_client(emulator, subaccount_sid).messaging.v1.services.list()
        else:
            found = client.api.v2010.accounts(subaccount_sid).incoming_phone_numbers.list()
        tagged = [item.sid for item in found if parse_tag(item.friendly_name) == tag]
        assert tagged == [created.id], (provider_class.__name__, tagged)


def _tagged_sids(emulator, provider_class, subaccount_sid: str, tag: str) -> list[str]:
    """What Twilio holds with `tag` (closed subaccounts are gone for good: not counted)."""
    client = emulator.client()
    if provider_class is SubaccountProvider:
        found = [a for a in client.api.v2010.accounts.list(page_size=1000) if a.status != "closed"]
    elif provider_class is ApiKeyProvider:
        found = client.api.v2010.accounts(subaccount_sid).keys.list()
    elif provider_class is MessagingServiceProvider:
        found = subaccount_client(emulator, subaccount_sid).messaging.v1.services.list()
    else:
        found = client.api.v2010.accounts(subaccount_sid).incoming_phone_numbers.list()
    return sorted(item.sid for item in found if parse_tag(item.friendly_name) == tag)


@pytest.mark.parametrize("fault", ["commit_then_500", "commit_then_drop"])
def test_the_next_up_removes_a_twin_that_lagged_past_the_window(
    configured, emulator, subaccount_sid, fault, monkeypatch
) -> None:
    """Lists lag 2 s, longer than a lost-answer window of 0.3 s: the create is tried again and
    a twin is left. The next `up` (diff, then update) removes it and names it; nothing else."""
    monkeypatch.setenv(LOST_ANSWER_WINDOW_ENV, "0.3")
    cases = _created_types(subaccount_sid)
    for provider_class, path, make_inputs in cases:
        name = provider_class.__name__
        tag = secrets.token_hex(5)
        provider = configured(provider_class)
        _lose_the_next_create(emulator, path, fault)
        created = provider.create(make_inputs(tag))
        emulator.set_faults(eventual_consistency_ms=0, script=[])
        left = _tagged_sids(emulator, provider_class, subaccount_sid, tag)
        assert len(left) == 2 and created.id in left, (name, left)
        assert created.outs[LOST_ANSWER_OUTPUT], name

        # The next run: nothing declared changed, yet the diff asks for an update.
        assert provider.diff(created.id, created.outs, make_inputs(tag)).changes, name
        before = writes(emulator)
        updated = provider.update(created.id, created.outs, make_inputs(tag))
        twin = [sid for sid in left if sid != created.id]
        assert updated.outs["removed_twins"]["sids"] == twin, name
        assert LOST_ANSWER_OUTPUT not in updated.outs, name
        assert _tagged_sids(emulator, provider_class, subaccount_sid, tag) == [created.id], name
        assert writes(emulator) - before == 1, name  # the removal, and no other write
        # And the run after that has nothing to do.
        assert not provider.diff(created.id, updated.outs, make_inputs(tag)).changes, name


def test_refresh_after_the_window_removes_the_twin_and_the_mark(
    configured, emulator, subaccount_sid, monkeypatch
) -> None:
    monkeypatch.setenv(LOST_ANSWER_WINDOW_ENV, "0.3")
    tag = secrets.token_hex(5)
    provider = configured(MessagingServiceProvider)
    _lose_the_next_create(emulator, r"/Services$", "commit_then_500")
    created = provider.create(service_inputs(subaccount_sid, tag))
    emulator.set_faults(eventual_consistency_ms=0, script=[])
    [twin] = [
        sid
        for sid in _tagged_sids(emulator, MessagingServiceProvider, subaccount_sid, tag)
        if sid != created.id
    ]
    monkeypatch.setenv(LOST_ANSWER_WINDOW_ENV, "0")  # the window has passed since the create
    read = provider.read(created.id, created.outs)
    assert read.outs["removed_twins"]["sids"] == [twin]
    assert LOST_ANSWER_OUTPUT not in read.outs  # the window has passed: nothing more to find
    assert not provider.diff(created.id, read.outs, service_inputs(subaccount_sid, tag)).changes


def test_a_lost_answer_that_made_nothing_leaves_a_clean_diff(
    configured, emulator, subaccount_sid, monkeypatch
) -> None:
    """A 5xx before anything was committed is a lost answer too: the create is tried again,
    and the next diff looks (one list, no write) but finds no twin, so nothing changes."""
    monkeypatch.setenv(LOST_ANSWER_WINDOW_ENV, "0.3")
    tag = secrets.token_hex(5)
    provider = configured(MessagingServiceProvider)
    _lose_the_next_create(emulator, r"/Services$", "500")
    created = provider.create(service_inputs(subaccount_sid, tag))
    emulator.set_faults(eventual_consistency_ms=0, script=[])
    assert created.outs[LOST_ANSWER_OUTPUT]
    assert _tagged_sids(emulator, MessagingServiceProvider, subaccount_sid, tag) == [created.id]
    before = writes(emulator)
    assert not provider.diff(created.id, created.outs, service_inputs(subaccount_sid, tag)).changes
    assert writes(emulator) == before


def test_a_create_without_lost_answers_asks_for_no_sweep(
    configured, emulator, subaccount_sid
) -> None:
    tag = secrets.token_hex(5)
    provider = configured(MessagingServiceProvider)
    created = provider.create(service_inputs(subaccount_sid, tag))
    assert LOST_ANSWER_OUTPUT not in created.outs
    assert not provider.diff(created.id, created.outs, service_inputs(subaccount_sid, tag)).changes


def test_refresh_releases_a_twin_number_and_names_it(configured, emulator, subaccount_sid) -> None:
    tag = secrets.token_hex(5)
    provider = configured(PhoneNumberProvider)
    kept = provider.create(number_inputs(subaccount_sid, tag))
    numbers = emulator.client().api.v2010.accounts(subaccount_sid).incoming_phone_numbers
    marked = with_state_mark(number_inputs(subaccount_sid, tag)["friendly_name"], STATE_MARK)
    twin = numbers.create(area_code="415", friendly_name=marked)  # what a lost answer leaves
    others = numbers.create(
        area_code="415",
        friendly_name=with_state_mark(
            number_inputs(subaccount_sid, tag)["friendly_name"], "a0a0a0"
        ),
    )
    read = provider.read(kept.id, kept.outs)
    assert read.id == kept.id and read.outs["removed_twins"]["sids"] == [twin.sid]
    remaining = {n.sid for n in numbers.list() if parse_tag(n.friendly_name) == tag}
    # Another state's number is never touched by this state's refresh.
    assert remaining == {kept.id, others.sid}


def test_a_create_finding_two_of_its_own_adopts_one_and_deletes_the_other(
    configured, emulator, subaccount_sid, new_run
) -> None:
    tag = secrets.token_hex(5)
    services = subaccount_client(emulator, subaccount_sid).messaging.v1.services
    marked = with_state_mark(service_inputs(subaccount_sid, tag)["friendly_name"], STATE_MARK)
    first = services.create(friendly_name=marked)
    second = services.create(friendly_name=marked)
    new_run()
    created = configured(MessagingServiceProvider).create(service_inputs(subaccount_sid, tag))
    assert created.id == first.sid and created.outs["removed_twins"]["sids"] == [second.sid]
    assert [s.sid for s in services.list() if parse_tag(s.friendly_name) == tag] == [first.sid]


@pytest.mark.parametrize(
    ("provider_class", "path", "make_inputs"),
    [
        (SubaccountProvider, r"/Accounts\.json$", lambda sid, t: account_inputs(t)),
        (MessagingServiceProvider, r"/Services$", service_inputs),
        (PhoneNumberProvider, r"/IncomingPhoneNumbers\.json$", number_inputs),
    ],
)
def test_a_create_whose_every_answer_is_lost_adopts_the_first_object(
    configured, emulator, subaccount_sid, monkeypatch, provider_class, path, make_inputs
) -> None:
    """Every attempt commits and loses its answer while lists lag 2 s, longer than the window
    (0.3 s): the create does not fail the run. After its last attempt it looks for longer,
    finds the first attempt's object and adopts it; the twins the list already shows are
    removed, and it records the lost answer so the next run sweeps the rest."""
    monkeypatch.setenv(LOST_ANSWER_WINDOW_ENV, "0.3")
    tag = secrets.token_hex(5)
    provider = configured(provider_class)
    emulator.set_faults(
        eventual_consistency_ms=LAG_MS,
        script=["commit_then_500"] * CREATE_ATTEMPTS,
        path_pattern=path,
        methods=["POST"],
    )
    created = provider.create(make_inputs(subaccount_sid, tag))
    emulator.set_faults(eventual_consistency_ms=0, script=[])
    assert created.outs[LOST_ANSWER_OUTPUT]
    left = _tagged_sids(emulator, provider_class, subaccount_sid, tag)
    assert created.id in left and 1 <= len(left) <= CREATE_ATTEMPTS, left
    # The next run's sweep removes whatever twins the create could not see yet.
    inputs = make_inputs(subaccount_sid, tag)
    if len(left) > 1:
        assert provider.diff(created.id, created.outs, inputs).changes
        provider.update(created.id, created.outs, inputs)
    assert _tagged_sids(emulator, provider_class, subaccount_sid, tag) == [created.id]


def test_a_key_whose_every_mint_is_lost_deletes_those_keys_and_mints_once_more(
    configured, emulator, subaccount_sid, monkeypatch
) -> None:
    """A key cannot be adopted (its secret came only with the lost answer): after the last
    usual attempt the longer look deletes the keys the lost mints made, and one more mint
    gives the key its secret. The next run's sweep deletes any the look could not see yet."""
    monkeypatch.setenv(LOST_ANSWER_WINDOW_ENV, "0.3")
    tag = secrets.token_hex(5)
    provider = configured(ApiKeyProvider)
    emulator.set_faults(
        eventual_consistency_ms=LAG_MS,
        script=["commit_then_500"] * CREATE_ATTEMPTS,
        path_pattern=r"/Keys\.json$",
        methods=["POST"],
    )
    created = provider.create(key_inputs(subaccount_sid, tag))
    emulator.set_faults(eventual_consistency_ms=0, script=[])
    assert created.outs["secret"]
    assert created.outs["removed_twins"]["sids"]  # what the longer look found, deleted
    left = _tagged_sids(emulator, ApiKeyProvider, subaccount_sid, tag)
    assert created.id in left, left
    inputs = key_inputs(subaccount_sid, tag)
    if len(left) > 1:
        assert provider.diff(created.id, created.outs, inputs).changes
        provider.update(created.id, created.outs, inputs)
    assert _tagged_sids(emulator, ApiKeyProvider, subaccount_sid, tag) == [created.id]


def test_a_key_resuming_a_failed_run_leaves_no_twin_when_its_mint_is_lost_again(
    configured, emulator, subaccount_sid, monkeypatch, new_run
) -> None:
    """An earlier run of this state lost every mint of the key and failed, leaving a key
    with the tag and this state's mark. The next run finds it (a resumed create), deletes
    it, and its own mint loses its answer again while lists lag 2 s, longer than the window
    (0.3 s): it mints again, then waits until its new key shows in the list and deletes the
    key the lost mint made, so no run after it has a twin to remove."""
    monkeypatch.setenv(LOST_ANSWER_WINDOW_ENV, "0.3")
    tag = secrets.token_hex(5)
    inputs = key_inputs(subaccount_sid, tag)
    account = emulator.client().api.v2010.accounts(subaccount_sid)
    left = account.new_keys.create(
        friendly_name=with_state_mark(inputs["friendly_name"], STATE_MARK)
    )
    new_run()
    emulator.set_faults(
        eventual_consistency_ms=LAG_MS,
        script=["commit_then_500"],
        path_pattern=r"/Keys\.json$",
        methods=["POST"],
    )
    created = configured(ApiKeyProvider).create(inputs)
    emulator.set_faults(eventual_consistency_ms=0, script=[])
    assert created.outs["secret"]
    assert _tagged_sids(emulator, ApiKeyProvider, subaccount_sid, tag) == [created.id]
    removed = created.outs["removed_twins"]["sids"]
    assert left.sid in removed and len(removed) == 2, removed  # the leftover and the lost mint
    # Everything the lost mint made is accounted for: the next run has nothing to look for.
    assert LOST_ANSWER_OUTPUT not in created.outs
    assert not configured(ApiKeyProvider).diff(created.id, created.outs, inputs).changes
