"""Provider error handling in one place (providers/errors.py, providers/base.py): a Twilio or
transport failure becomes one message naming the resource, Twilio's code and what to do; a
bug goes up as itself; 404 on read and delete means gone."""

from __future__ import annotations

import time

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from providers import subaccount
from providers.adoption import fetch_adopted
from providers.errors import (
    TwilioResourceError,
    describe_failure,
    twilio_errors,
    unless_gone,
)
from providers.subaccount import SubaccountProvider
from tests.providers.conftest import STATE_MARK, named
from tests.support.emulator_process import EmulatorProcess
from twilio_access.transport import UnknownOutcomeError


def inputs(tag: str) -> dict:
    return {
        "account_key": "acme",
        "environment": "development",
        "role": "shared",
        "friendly_name": named("Acme (development)", tag),
        "tag": tag,
        "state_mark": STATE_MARK,
    }


def test_a_twilio_failure_names_the_resource_the_code_and_what_to_do(
    configured, emulator: EmulatorProcess, tag: str
) -> None:
    provider = configured(SubaccountProvider)
    # Every try of the list that looks for the tag fails (the transport retries 8 times).
    emulator.set_faults(script=["500"] * 8, path_pattern=r"/Accounts\.json$", methods=["GET"])
    with pytest.raises(TwilioResourceError) as failed:
        provider.create(inputs(tag))
    message = str(failed.value)
    assert message.startswith("Subaccount 'acme': Twilio error 20500: create failed:"), message
    assert "run `pulumi up` again" in message
    assert "https://www.twilio.com/docs/errors/20500" in message
    assert failed.value.code == 20500
    # The frames of the client library are not what a person acts on.
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_with_tlz_debug_the_twilio_error_stays_attached(
    configured, emulator: EmulatorProcess, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLZ_DEBUG", "1")
    provider = configured(SubaccountProvider)
    emulator.set_faults(script=["500"] * 8, path_pattern=r"/Accounts\.json$", methods=["GET"])
    with pytest.raises(TwilioResourceError) as failed:
        provider.create(inputs(tag))
    assert isinstance(failed.value.__cause__, TwilioException)
    assert failed.value.__traceback__ is not None


def test_a_bug_inside_a_provider_goes_up_as_itself(
    configured, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise KeyError("a bug, not Twilio")

    monkeypatch.setattr(subaccount, "create_once", broken)
    provider = configured(SubaccountProvider)
    with pytest.raises(KeyError, match="a bug, not Twilio"):
        provider.create(inputs(tag))


def test_a_refresh_of_a_deleted_object_forgets_it(configured, tag: str) -> None:
    provider = configured(SubaccountProvider)
    gone = provider.read("AC" + "0" * 32, inputs(tag))
    assert gone.id is None


def test_unless_gone_turns_only_404_into_none() -> None:
    def answer(status: int):
        def call():
            raise TwilioRestException(status, "https://api.twilio.com/x", "no", code=20404)

        return call

    assert unless_gone(answer(404)) is None
    with pytest.raises(TwilioRestException):
        unless_gone(answer(500))
    with pytest.raises(ZeroDivisionError):
        unless_gone(lambda: 1 / 0)


def test_an_adopted_object_is_not_there_only_when_twilio_says_so() -> None:
    def answer(status: int):
        def call():
            raise TwilioRestException(status, "https://api.twilio.com/x", "no", code=20404)

        return call

    def unreachable():
        raise requests.ConnectionError("refused")

    # Absent, or refused to these credentials (another parent's object): not there.
    for status in (401, 403, 404):
        assert fetch_adopted(answer(status)) is None
    # Anything else goes up to the operation's report: Twilio's and the network's failures
    # as one message (providers/base.py), a bug as itself.
    with pytest.raises(TwilioRestException):
        fetch_adopted(answer(500))
    with pytest.raises(requests.ConnectionError):
        fetch_adopted(unreachable)
    with pytest.raises(ZeroDivisionError):
        fetch_adopted(lambda: 1 / 0)


def test_a_diff_that_cannot_look_for_twins_asks_for_an_update_but_a_bug_fails_it(
    configured, tag: str
) -> None:
    provider = configured(SubaccountProvider)
    sid = "AC" + "1" * 32
    news = provider.check({}, inputs(tag)).inputs
    # Nothing declared changed, but a create was tried again after a lost answer moments ago:
    # the diff looks for its twin.
    olds = {**news, "lost_answer_at": time.time()}
    assert not provider.declared_changes(olds, news)
    looked: list[BaseException] = []
    failures: list[BaseException] = [
        requests.ConnectionError("refused"),
        TwilioRestException(500, "https://api.twilio.com/x", "down", code=20500),
        TwilioResourceError("Subaccount", "acme", "decided by the provider"),
    ]
    for failure in [*failures, KeyError("a bug, not Twilio")]:

        def sweep(id, props, dry_run=False, failure=failure):
            assert dry_run
            looked.append(failure)
            raise failure

        provider.sweep = sweep
        if isinstance(failure, KeyError):
            with pytest.raises(KeyError, match="a bug, not Twilio"):
                provider.diff(sid, olds, news)
        else:
            # The update looks again and reports what fails.
            assert provider.diff(sid, olds, news).changes, failure
    assert len(looked) == 4


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            TwilioRestException(401, "u", "Authenticate", code=20003),
            ["Twilio error 20003", "check twilio:accountSid and twilio:authToken", "errors/20003"],
        ),
        (
            TwilioRestException(429, "u", "Too Many Requests", code=20429),
            ["Twilio error 20429", "lower `--parallel`"],
        ),
        (
            TwilioRestException(400, "u", "Invalid area code", code=21452),
            ["Twilio error 21452: purchase failed: Invalid area code.", "errors/21452"],
        ),
        (
            UnknownOutcomeError("POST", "https://api.twilio.com/x", "HTTP 500"),
            ["purchase failed: POST", "outcome unknown", "identity tag and adopts it"],
        ),
        (
            requests.ConnectionError("refused"),
            ["cannot reach Twilio", "`make emulator`"],
        ),
        (requests.Timeout("slow"), ["did not answer in time", "run `pulumi up` again"]),
    ],
)
def test_every_failure_says_what_to_do(error: BaseException, expected: list[str]) -> None:
    message = str(describe_failure("PhoneNumber", "acme/notifications-1", error, "purchase"))
    assert message.startswith("PhoneNumber 'acme/notifications-1': ")
    for part in expected:
        assert part in message, message
    assert "\n" not in message


def test_the_block_translates_failures_and_lets_the_rest_through() -> None:
    block = twilio_errors("ApiKey", "acme/backend", "create")
    expected = r"^ApiKey 'acme/backend': create failed: cannot reach"
    with pytest.raises(TwilioResourceError, match=expected), block:
        raise requests.ConnectionError("refused")
    refusal = TwilioResourceError("ApiKey", "acme/backend", "decided by the provider")
    block = twilio_errors("ApiKey", "acme/backend", "create")
    with pytest.raises(TwilioResourceError) as passed, block:
        raise refusal
    assert passed.value is refusal
    block = twilio_errors("ApiKey", "acme/backend", "create")
    with pytest.raises(AttributeError), block:
        raise AttributeError("a bug")
