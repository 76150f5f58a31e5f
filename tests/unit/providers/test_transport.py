"""The retry layer: what is repeated, what is not, and how long it waits."""

from __future__ import annotations

import logging

import pytest
import requests
from twilio.http import HttpClient
from twilio.http.response import Response

from twilio_access.transport import (
    RetryingHttpClient,
    RetryPolicy,
    UnknownOutcomeError,
    is_repeatable,
    retry_after_seconds,
)

SERVICE = "https://messaging.twilio.com/v1/Services/MG0123456789abcdef0123456789abcdef"
ACCOUNT = "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef.json"


class ScriptedHttpClient(HttpClient):
    """Answers with the scripted responses (or raises the scripted errors) in order."""

    def __init__(self, *script) -> None:
        super().__init__(logger=logging.getLogger("test"), is_async=False, timeout=5)
        self.script = list(script)
        self.calls: list[tuple[str, str]] = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):  # fmt: skip
        self.calls.append((method, url))
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, retry_after = answer if isinstance(answer, tuple) else (answer, None)
        headers = {"Retry-After": retry_after} if retry_after else {}
        return Response(status, '{"code": 20429}', headers)


def client(*script) -> tuple[RetryingHttpClient, ScriptedHttpClient, list[float]]:
    inner = ScriptedHttpClient(*script)
    slept: list[float] = []
    retrying = RetryingHttpClient(inner, RetryPolicy(attempts=4, base_delay=0.01), slept.append)
    return retrying, inner, slept


@pytest.mark.parametrize(
    ("method", "url", "repeatable"),
    [
        ("GET", "https://api.twilio.com/2010-04-01/Accounts.json", True),
        ("DELETE", SERVICE, True),
        ("POST", SERVICE, True),
        ("POST", ACCOUNT, True),
        ("POST", "https://api.twilio.com/2010-04-01/Accounts.json", False),
        ("POST", "https://messaging.twilio.com/v1/Services", False),
        ("POST", SERVICE + "/PhoneNumbers", False),
    ],
)  # fmt: skip
def test_only_creates_are_not_repeatable(method: str, url: str, repeatable: bool) -> None:
    assert is_repeatable(method, url) is repeatable


def test_429_is_retried_even_for_a_create_and_honours_retry_after() -> None:
    retrying, inner, slept = client((429, "3"), 201)
    response = retrying.request("POST", "https://messaging.twilio.com/v1/Services")
    assert response.status_code == 201
    assert len(inner.calls) == 2
    assert slept == [pytest.approx(3.0, abs=0.02)]


def test_5xx_on_an_update_is_retried() -> None:
    retrying, inner, _ = client(503, 500, 200)
    assert retrying.request("POST", SERVICE).status_code == 200
    assert len(inner.calls) == 3


def test_5xx_on_a_create_is_an_unknown_outcome_not_a_retry() -> None:
    retrying, inner, _ = client(503, 201)
    with pytest.raises(UnknownOutcomeError):
        retrying.request("POST", "https://messaging.twilio.com/v1/Services")
    assert len(inner.calls) == 1


def test_dropped_connection_on_a_create_is_an_unknown_outcome() -> None:
    retrying, _, _ = client(requests.ConnectionError("reset"))
    with pytest.raises(UnknownOutcomeError):
        retrying.request("POST", "https://api.twilio.com/2010-04-01/Accounts.json")


def test_dropped_connection_on_a_read_is_retried() -> None:
    retrying, inner, _ = client(requests.ConnectionError("reset"), 200)
    assert retrying.request("GET", SERVICE).status_code == 200
    assert len(inner.calls) == 2


def test_gives_up_after_the_last_attempt_with_the_last_answer() -> None:
    retrying, inner, slept = client(429, 429, 429, 429)
    assert retrying.request("GET", SERVICE).status_code == 429
    assert len(inner.calls) == 4
    assert len(slept) == 3


def test_4xx_is_final() -> None:
    retrying, inner, _ = client(400)
    assert retrying.request("POST", SERVICE).status_code == 400
    assert len(inner.calls) == 1


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=4.0)
    assert all(0 <= policy.backoff(attempt, None) <= 4.0 for attempt in range(10))
    assert policy.backoff(0, 2.5) >= 2.5


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}) == 0.0
