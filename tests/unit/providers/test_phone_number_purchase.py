"""How a number is bought: by area code in one call, falling back to a search when Twilio picks
one that cannot send SMS (the emulator always picks an SMS-capable one, so this is scripted)."""

from __future__ import annotations

import json
import logging

from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from providers.phone_number import PhoneNumberInputs, PhoneNumberProvider

ACCOUNT_SID = "AC" + "1" * 32
SUFFIX = "[tlz:0123456789]"


def number(sid_digit: str, phone: str, sms: bool) -> dict:
    return {
        "sid": "PN" + sid_digit * 32,
        "account_sid": ACCOUNT_SID,
        "phone_number": phone,
        "friendly_name": f"Acme #1 {SUFFIX}",
        "capabilities": {"voice": True, "sms": sms, "mms": sms, "fax": False},
    }


class TwilioScript(HttpClient):
    """Answers each request with the next scripted (status, JSON body); records the calls."""

    def __init__(self, *answers: tuple[int, dict | None]) -> None:
        super().__init__(logger=logging.getLogger("test"), is_async=False, timeout=5)
        self.answers = list(answers)
        self.calls: list[tuple[str, str, dict]] = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):  # fmt: skip
        self.calls.append((method, url.rsplit("/", 1)[-1], dict(data or params or {})))
        status, body = self.answers.pop(0)
        return Response(status, json.dumps(body) if body is not None else "", {})


def buy(script: TwilioScript, **choice):
    inputs = PhoneNumberInputs(
        account_key="acme",
        account_sid=ACCOUNT_SID,
        use_case="notifications",
        tag="0123456789",
        friendly_name=f"Acme #1 {SUFFIX}",
        country="US",
        **choice,
    )
    account = Client(ACCOUNT_SID, "token", http_client=script).api.v2010.accounts(ACCOUNT_SID)
    return PhoneNumberProvider()._buy(account, inputs)


def test_an_area_code_purchase_is_one_call():
    script = TwilioScript((201, number("a", "+15105550100", sms=True)))
    bought = buy(script, area_code="510")
    assert bought.phone_number == "+15105550100"
    assert [(m, path, data.get("AreaCode")) for m, path, data in script.calls] == [
        ("POST", "IncomingPhoneNumbers.json", "510")
    ]


def test_a_number_without_sms_is_given_back_and_a_searched_one_bought():
    available = {
        "available_phone_numbers": [{"phone_number": "+15105550142", "capabilities": {}}],
        "uri": "/2010-04-01/Accounts/x/AvailablePhoneNumbers/US/Local.json",
        "page": 0,
        "page_size": 20,
        "next_page_uri": None,
    }
    script = TwilioScript(
        (201, number("a", "+15105550100", sms=False)),
        (204, None),
        (200, available),
        (201, number("b", "+15105550142", sms=True)),
    )
    bought = buy(script, area_code="510")
    assert bought.phone_number == "+15105550142"
    assert [(method, path) for method, path, _ in script.calls] == [
        ("POST", "IncomingPhoneNumbers.json"),
        ("DELETE", "PN" + "a" * 32 + ".json"),
        ("GET", "Local.json"),
        ("POST", "IncomingPhoneNumbers.json"),
    ]
    assert script.calls[2][2].get("SmsEnabled") == "true"
