"""The collector's own signature computation (`signature_of`) equals the twilio library's
`RequestValidator.compute_signature` on forms chosen to break a shortcut."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from collector.events import FormParams, event_key_of, parse_form
from collector.signatures import keyed_hmac, signature_of

TOKEN = "12345678901234567890123456789012"
URLS = ["https://hooks.example.com/twilio/status?x=1&y=%20", "http://127.0.0.1:4020/twilio/status"]
FORMS: list[list[tuple[str, str]]] = [
    [],
    [("AccountSid", "AC" + "0" * 32), ("MessageStatus", "delivered")],
    [("B", "1"), ("a", "2"), ("A", "3"), ("_", "4"), ("AB", "5"), ("A_", "6")],
    [("To", "+14155550100"), ("To", "+14155550199"), ("To", "+14155550100")],  # a repeat
    [("X", "b"), ("X", "a"), ("Y", ""), ("X", "b")],
    [("Body", "héllo wörld ✓"), ("Name", "a&b=c"), ("Plus", "1+1 %20")],
    [("Empty", ""), ("Empty", "")],
    [("Z", "1"), ("Y", "2"), ("Y", "1"), ("Z", "0"), ("Y", "2")],
]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("pairs", FORMS)
def test_the_signature_equals_the_twilio_librarys(url: str, pairs: list[tuple[str, str]]):
    form = parse_form(urlencode(pairs).encode())
    assert form.pairs == pairs
    expected = RequestValidator(TOKEN).compute_signature(url, form)
    assert signature_of(TOKEN.encode(), url, form) == expected
    assert signature_of(TOKEN.encode(), url, FormParams(list(pairs))) == expected
    assert signature_of(keyed_hmac(TOKEN), url, form) == expected  # the key prepared once


def test_the_event_identity_ignores_order_but_not_repeats():
    one = FormParams([("A", "1"), ("B", "2"), ("A", "1")])
    assert event_key_of(one) == event_key_of(FormParams([("B", "2"), ("A", "1"), ("A", "1")]))
    assert event_key_of(one) != event_key_of(FormParams([("A", "1"), ("B", "2")]))


@pytest.mark.parametrize("token", ["", "k", "x" * 64, "y" * 65, "é" * 40])
def test_the_prepared_key_equals_the_twilio_librarys_for_any_token_length(token: str):
    # HMAC pads a key up to SHA-1's 64-byte block and hashes a longer one first.
    form = parse_form(urlencode(FORMS[3]).encode())
    expected = RequestValidator(token).compute_signature(URLS[0], form)
    assert signature_of(keyed_hmac(token), URLS[0], form) == expected


def test_a_repeated_name_keeps_its_first_value_and_all_of_its_values():
    form = FormParams([("To", "+2"), ("From", "+9"), ("To", "+1")])
    assert form.get("To") == "+2" and form.first == {"To": "+2", "From": "+9"}
    assert form.getlist("To") == ["+2", "+1"] and form.getlist("From") == ["+9"]
    assert list(form) == ["To", "From"] and len(form) == 2 and "From" in form
    assert form.as_archive() == {"To": ["+2", "+1"], "From": "+9"}
