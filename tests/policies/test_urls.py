"""The webhook URL rule shared by status-callback-required and https-webhooks."""

from __future__ import annotations

import pytest

from twilio_guardrails.urls import problem


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/twilio/status", "https://hooks.example.com:8443/s?x=1"],
)
def test_https_urls_pass_everywhere(url: str) -> None:
    assert problem(url, loopback_allowed=False) is None


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:4020/twilio/status", "http://localhost:8000/in", "http://[::1]:9/x"],
)
def test_loopback_http_passes_only_where_allowed(url: str) -> None:
    assert problem(url, loopback_allowed=True) is None
    assert problem(url, loopback_allowed=False) == "is plain http to a loopback host"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://hooks.example.com/s", "must use https"),
        ("http://127.0.0.2.example.com/s", "must use https"),
        ("ftp://hooks.example.com/s", "is not an absolute https URL"),
        ("/twilio/status", "is not an absolute https URL"),
        ("https://user:pw@hooks.example.com/s", "embeds credentials"),
        (" https://hooks.example.com/s", "is not a URL"),
        ("https://[::1/x", "is not a valid URL"),
        (42, "is not a URL"),
    ],
)
def test_other_urls_fail(url: object, expected: str) -> None:
    found = problem(url, loopback_allowed=True)
    assert found is not None and found.startswith(expected)
