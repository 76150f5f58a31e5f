"""Signature checks with per-account tokens read through a TokenSource (here a fake)."""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import urlencode

import pytest

from collector.events import parse_form
from collector.signatures import (
    SignatureChecker,
    StaticTokenSource,
    TokenLookupError,
    Verdict,
)
from tests.collector.support import (
    OTHER_SUB_SID,
    PARENT_SID,
    PARENT_TOKEN,
    SUB_SID,
    SUB_TOKEN,
    callback_params,
    message_sid,
    sign,
)

URL = "https://hooks.example.com/twilio/status"


def _check(checker: SignatureChecker, account: str, token: str | None, url: str = URL, **kw):
    params = callback_params(account, message_sid(), "sent")
    signature = sign(url, params, token) if token else None
    form = parse_form(urlencode(params).encode())
    return asyncio.run(checker.check(URL, form, account, signature, **kw))


def test_callbacks_signed_with_the_sending_accounts_token_are_valid():
    source = StaticTokenSource({PARENT_SID: PARENT_TOKEN, SUB_SID: SUB_TOKEN})
    checker = SignatureChecker(source)
    assert _check(checker, SUB_SID, SUB_TOKEN) is Verdict.VALID
    assert _check(checker, PARENT_SID, PARENT_TOKEN) is Verdict.VALID
    # Twilio signs with or without the default port; both are accepted.
    assert (
        _check(checker, SUB_SID, SUB_TOKEN, url=URL.replace(".com/", ".com:443/")) is Verdict.VALID
    )


def test_another_accounts_token_an_unsigned_request_and_an_unknown_account_are_refused():
    checker = SignatureChecker(StaticTokenSource({PARENT_SID: PARENT_TOKEN, SUB_SID: SUB_TOKEN}))
    assert _check(checker, SUB_SID, PARENT_TOKEN) is Verdict.FORGED
    assert _check(checker, SUB_SID, None) is Verdict.UNSIGNED
    assert _check(checker, OTHER_SUB_SID, SUB_TOKEN) is Verdict.UNKNOWN_ACCOUNT
    assert (
        _check(checker, SUB_SID, SUB_TOKEN, signature_settings="key=abc,algorithm=HMAC_SHA256")
        is Verdict.UNSUPPORTED_SCHEME
    )


def test_tokens_are_cached_and_a_rotated_token_is_read_again_once():
    source = StaticTokenSource({SUB_SID: SUB_TOKEN})
    checker = SignatureChecker(source, reread_interval=0)
    for _ in range(5):
        assert _check(checker, SUB_SID, SUB_TOKEN) is Verdict.VALID
    assert source.reads == 1

    source.tokens[SUB_SID] = "rotated-token"
    assert _check(checker, SUB_SID, "rotated-token") is Verdict.VALID
    assert source.reads == 2
    assert _check(checker, SUB_SID, "rotated-token") is Verdict.VALID
    assert source.reads == 2
    # A forgery costs one re-read, and then it is still a forgery.
    assert _check(checker, SUB_SID, "guess") is Verdict.FORGED
    assert source.reads == 3


def test_forged_traffic_cannot_turn_into_a_flood_of_token_reads():
    source = StaticTokenSource({SUB_SID: SUB_TOKEN})
    checker = SignatureChecker(source, reread_interval=60, unknown_ttl=60)
    for _ in range(20):
        assert _check(checker, SUB_SID, "guess") is Verdict.FORGED
        assert _check(checker, OTHER_SUB_SID, "guess") is Verdict.UNKNOWN_ACCOUNT
    # One read each to learn the token / the absence, one re-read after the first mismatch.
    assert source.reads == 3


def test_concurrent_first_requests_for_an_account_share_one_token_read():
    release = threading.Event()
    reading = threading.Event()

    class SlowSource(StaticTokenSource):
        def auth_token(self, account_sid: str) -> str | None:
            reading.set()
            release.wait(5)
            return super().auth_token(account_sid)

    source = SlowSource({SUB_SID: SUB_TOKEN})
    checker = SignatureChecker(source)
    params = callback_params(SUB_SID, message_sid(), "sent")
    form = parse_form(urlencode(params).encode())
    signature = sign(URL, params, SUB_TOKEN)

    async def many() -> list[Verdict]:
        checks = [checker.check(URL, form, SUB_SID, signature) for _ in range(20)]
        tasks = [asyncio.ensure_future(c) for c in checks]
        # While the one read is under way, every check has started and waits for it.
        assert await asyncio.to_thread(reading.wait, 10)
        assert not any(task.done() for task in tasks)
        release.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(many()) == [Verdict.VALID] * 20
    assert source.reads == 1


def test_a_failing_token_source_surfaces_as_a_lookup_error_and_is_not_cached():
    class FlakySource:
        calls = 0

        def auth_token(self, account_sid: str) -> str | None:
            self.calls += 1
            if self.calls == 1:
                raise TokenLookupError("Twilio unreachable")
            return SUB_TOKEN

    checker = SignatureChecker(FlakySource())
    with pytest.raises(TokenLookupError):
        _check(checker, SUB_SID, SUB_TOKEN)
    assert _check(checker, SUB_SID, SUB_TOKEN) is Verdict.VALID


def test_callbacks_that_mismatch_together_after_a_rotation_share_one_reread():
    source = StaticTokenSource({SUB_SID: SUB_TOKEN})
    checker = SignatureChecker(source, reread_interval=60)
    assert _check(checker, SUB_SID, SUB_TOKEN) is Verdict.VALID
    source.tokens[SUB_SID] = "rotated-token"

    async def many() -> list[Verdict]:
        checks = []
        for _ in range(10):
            params = callback_params(SUB_SID, message_sid(), "sent")
            form = parse_form(urlencode(params).encode())
            checks.append(checker.check(URL, form, SUB_SID, sign(URL, params, "rotated-token")))
        return await asyncio.gather(*checks)

    assert asyncio.run(many()) == [Verdict.VALID] * 10
    assert source.reads == 2
