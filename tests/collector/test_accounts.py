"""The estate: Twilio is asked only about accounts the parent lists, the allow-list or the name
maps name; any other SID is refused with no call and nothing kept."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from twilio.base.exceptions import TwilioRestException

from collector.accounts import (
    AccountDirectory,
    AllowListError,
    EstateAccount,
    StaticAccountLister,
    read_allow_list,
)
from collector.events import parse_form
from collector.signatures import (
    SignatureChecker,
    StaticTokenSource,
    TokenLookupError,
    TwilioTokenSource,
    Verdict,
)
from tests.collector.support import (
    OTHER_SUB_SID,
    OTHER_SUB_TOKEN,
    SUB_SID,
    SUB_TOKEN,
    callback_params,
    message_sid,
    sign,
)

URL = "https://hooks.example.com/twilio/status"


def _check(checker: SignatureChecker, account: str, token: str) -> Verdict:
    params = callback_params(account, message_sid(), "sent")
    form = parse_form(urlencode(params).encode())
    return asyncio.run(checker.check(URL, form, account, sign(URL, params, token)))


def test_unknown_accounts_cost_no_token_read_and_leave_nothing_behind():
    source = StaticTokenSource({SUB_SID: SUB_TOKEN})
    directory = AccountDirectory(source)
    directory.refresh()
    checker = SignatureChecker(source, directory=directory)
    strangers = [f"AC{os.urandom(16).hex()}" for _ in range(2000)]
    for stranger in strangers:
        assert checker.surely_unknown(stranger)
        assert _check(checker, stranger, SUB_TOKEN) is Verdict.UNKNOWN_ACCOUNT
    assert source.reads == 0 and source.lists == 1
    assert len(checker._cache) == 0 and len(checker._negative) == 0
    assert _check(checker, SUB_SID, SUB_TOKEN) is Verdict.VALID
    assert source.reads == 1


def test_tokens_from_the_list_need_no_read_and_an_account_gone_from_it_is_refused():
    lister = StaticAccountLister(
        [
            EstateAccount(SUB_SID, "Bayside Dental", SUB_TOKEN),
            EstateAccount(OTHER_SUB_SID, "Harbor Vets", OTHER_SUB_TOKEN),
        ]
    )
    source = StaticTokenSource({})
    directory = AccountDirectory(lister)
    checker = SignatureChecker(source, directory=directory)
    directory.refresh()
    assert _check(checker, SUB_SID, SUB_TOKEN) is Verdict.VALID
    assert _check(checker, OTHER_SUB_SID, OTHER_SUB_TOKEN) is Verdict.VALID
    assert source.reads == 0
    assert directory.friendly_names() == {SUB_SID: "Bayside Dental", OTHER_SUB_SID: "Harbor Vets"}

    lister.accounts = lister.accounts[:1]  # closed, or moved to another parent
    directory.refresh()
    assert _check(checker, OTHER_SUB_SID, OTHER_SUB_TOKEN) is Verdict.UNKNOWN_ACCOUNT
    assert source.reads == 0


def test_negative_answers_are_bounded_and_expire():
    allowed = [f"AC{n:032x}" for n in range(50)]
    source = StaticTokenSource({})  # Twilio knows none of them
    directory = AccountDirectory(StaticAccountLister([]), extra_known=lambda: set(allowed))
    directory.refresh()
    checker = SignatureChecker(source, directory=directory, max_negative=10, unknown_ttl=60)
    for sid in allowed:
        assert _check(checker, sid, SUB_TOKEN) is Verdict.UNKNOWN_ACCOUNT
    assert source.reads == 50
    assert len(checker._negative) == 10  # the most recent ten
    for sid in allowed[-10:]:
        assert _check(checker, sid, SUB_TOKEN) is Verdict.UNKNOWN_ACCOUNT
    assert source.reads == 50  # remembered: no second read
    checker.unknown_ttl = 0
    assert _check(checker, allowed[-1], SUB_TOKEN) is Verdict.UNKNOWN_ACCOUNT
    assert source.reads == 51  # expired: read again


def test_the_allow_list_file_adds_accounts_and_a_bad_line_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    path = tmp_path / "allow.txt"
    path.write_text(f"# accounts outside the parent's list\n{OTHER_SUB_SID}  # partner\n\n")
    assert read_allow_list(path) == {OTHER_SUB_SID}
    source = StaticTokenSource({SUB_SID: SUB_TOKEN, OTHER_SUB_SID: OTHER_SUB_TOKEN})
    directory = AccountDirectory(StaticAccountLister([EstateAccount(SUB_SID)]), allow_list=path)
    directory.refresh()
    checker = SignatureChecker(source, directory=directory)
    assert _check(checker, OTHER_SUB_SID, OTHER_SUB_TOKEN) is Verdict.VALID

    path.write_text(f"{OTHER_SUB_SID}\nnot-a-sid\n")
    os.utime(path, ns=(1, 1))  # a different modification time: read again
    with pytest.raises(AllowListError, match=r"allow.txt:2: 'not-a-sid' is not an account SID"):
        read_allow_list(path)
    with caplog.at_level(logging.WARNING):
        directory.refresh()
    assert "allow.txt:2" in caplog.text
    assert directory.is_known(OTHER_SUB_SID)  # the previous list stays in force


def test_a_collector_that_never_listed_the_estate_asks_twilio_to_retry():
    class Down:
        def list_accounts(self) -> list[EstateAccount]:
            raise TokenLookupError("connection refused")

        def auth_token(self, account_sid: str) -> str | None:
            raise AssertionError("no read for an account nobody listed")

    directory = AccountDirectory(Down())
    directory.refresh()
    assert directory.failed_refreshes == 1
    checker = SignatureChecker(Down(), directory=directory)
    assert not checker.surely_unknown(SUB_SID)
    with pytest.raises(TokenLookupError):
        _check(checker, SUB_SID, SUB_TOKEN)


def test_a_bug_in_listing_is_logged_with_its_traceback_and_the_refreshes_go_on(
    caplog: pytest.LogCaptureFixture,
):
    class BuggyOnce:
        calls = 0

        def list_accounts(self) -> list[EstateAccount]:
            self.calls += 1
            if self.calls == 1:
                raise KeyError("a bug, not Twilio")
            return [EstateAccount(SUB_SID)]

    directory = AccountDirectory(BuggyOnce())
    with caplog.at_level(logging.WARNING):
        directory.refresh()
    assert directory.failed_refreshes == 1
    [record] = [r for r in caplog.records if "accounts failed" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    directory.refresh()  # the background loop's next round
    assert directory.is_known(SUB_SID)


def _session_whose_list_raises(error: BaseException) -> SimpleNamespace:
    def stream(page_size: int):
        raise error

    accounts = SimpleNamespace(stream=stream)
    client = SimpleNamespace(api=SimpleNamespace(v2010=SimpleNamespace(accounts=accounts)))
    return SimpleNamespace(credentials=SimpleNamespace(account_sid=SUB_SID), parent=lambda: client)


def test_twilios_refusal_to_list_is_a_lookup_error_and_a_bug_is_itself():
    refused = TwilioRestException(401, "https://api.twilio.com/x", "Authenticate", code=20003)
    source = TwilioTokenSource(_session_whose_list_raises(refused))
    with pytest.raises(TokenLookupError, match="Authenticate"):
        source.list_accounts()
    buggy = TwilioTokenSource(_session_whose_list_raises(KeyError("a bug")))
    with pytest.raises(KeyError):
        buggy.list_accounts()
