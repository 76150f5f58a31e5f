"""Twilio's reads lag behind its writes: a fetch right after a create may answer 404 for a
while. Reads of objects just made wait that out instead of concluding they are gone."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from twilio.base.exceptions import TwilioException, TwilioRestException

T = TypeVar("T")

SETTLE_SECONDS = 8.0


def is_not_found(error: BaseException) -> bool:
    """A Twilio 404, as twilio-python reports it for one object (`TwilioRestException`) or for
    a list page (`TwilioException("Unable to fetch page", response)`)."""
    if isinstance(error, TwilioRestException):
        return error.status == 404
    if isinstance(error, TwilioException) and len(error.args) > 1:
        return getattr(error.args[1], "status_code", None) == 404
    return False


def settle(call: Callable[[], T], seconds: float = SETTLE_SECONDS) -> T:
    """Retry a read that answers 404 until `seconds` have passed since the first try."""
    deadline = time.monotonic() + seconds
    delay = 0.1
    while True:
        try:
            return call()
        except TwilioException as error:
            if not is_not_found(error) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
