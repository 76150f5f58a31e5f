"""Reading Twilio failures, and reporting them with the resource they concern.

twilio-python reports an error answer two ways: `TwilioRestException` (status, code) for
single-object calls, and a plain `TwilioException("Unable to fetch page", response)` for list
pages, whose code has to be read from the raw response.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException


def _page_response(error: BaseException):
    if isinstance(error, TwilioException) and len(error.args) > 1:
        response = error.args[1]
        if hasattr(response, "status_code"):
            return response
    return None


def http_status(error: BaseException) -> int | None:
    if isinstance(error, TwilioRestException):
        return error.status
    response = _page_response(error)
    return response.status_code if response is not None else None


def twilio_code(error: BaseException) -> int | None:
    if isinstance(error, TwilioRestException):
        return error.code
    response = _page_response(error)
    if response is None:
        return None
    try:
        return json.loads(response.text).get("code")
    except (ValueError, AttributeError):
        return None


def twilio_message(error: BaseException) -> str:
    if isinstance(error, TwilioRestException):
        return str(error.msg)
    response = _page_response(error)
    if response is not None:
        try:
            return str(json.loads(response.text).get("message"))
        except (ValueError, AttributeError):
            return response.text
    return str(error)


def is_not_found(error: BaseException) -> bool:
    return http_status(error) == 404


class TwilioResourceError(Exception):
    """What a person reads in `pulumi up` output: which resource, which Twilio code, and
    what to do where we know."""

    def __init__(self, kind: str, name: str, message: str, code: int | None = None) -> None:
        prefix = f"{kind} '{name}'"
        detail = f"Twilio error {code}: {message}" if code else message
        super().__init__(f"{prefix}: {detail}")
        self.code = code


def describe_failure(kind: str, name: str, error: BaseException, doing: str) -> TwilioResourceError:
    if isinstance(error, requests.ConnectionError):
        host = urlsplit(getattr(error.request, "url", "") or "").netloc or "Twilio"
        return TwilioResourceError(
            kind,
            name,
            f"{doing} failed: cannot reach {host} (connection refused or dropped). Against the "
            "local emulator, start it (`make emulator`); against Twilio, check the network.",
        )
    code = twilio_code(error)
    message = f"{doing} failed: {twilio_message(error)}"
    if code:
        message += f" (https://www.twilio.com/docs/errors/{code})"
    return TwilioResourceError(kind, name, message, code)
