"""Provider errors in one place: which failures are Twilio's or the network's, and the one
message a person reads for them.

A provider operation fails for three kinds of reasons, reported three ways:
- Twilio answered with an error, or the request never got an answer (connection refused or
  dropped, timeout, a create whose answer was lost): a `TwilioResourceError` naming the
  resource, Twilio's code and what to do. The project's provider host prints it as that one
  line, without a Python traceback (tools/provider_host/readable_errors.py).
- A refusal the provider decides itself (a foreign object with our tag, a sender held by
  another service...): also a `TwilioResourceError`, raised where it is decided.
- Anything else is a bug: it goes up untouched, with its traceback.
`TLZ_DEBUG=1` keeps the traceback of everything, the Twilio error behind each message too.

twilio-python reports an error answer two ways: `TwilioRestException` (status, code) for
single-object calls, and a plain `TwilioException("Unable to fetch page", response)` for list
pages, whose code has to be read from the raw response.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

# `twilio.base.exceptions` is light; `requests` (and the client's HTTP stack) is imported only
# once a call to Twilio was made or failed: a preview, which calls no Twilio, never loads it.
from twilio.base.exceptions import TwilioException, TwilioRestException

from twilio_access.outcomes import UnknownOutcomeError

T = TypeVar("T")

DEBUG_ENV = "TLZ_DEBUG"


def twilio_failures() -> tuple[type[BaseException], ...]:
    """What Twilio or the way to it can do to a call: everything else a provider raises is a
    bug. A function, read where an exception is being matched, so that importing the providers
    does not import `requests`."""
    import requests

    return (TwilioException, requests.ConnectionError, requests.Timeout, UnknownOutcomeError)


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV) == "1"


def _page_response(error: BaseException) -> Any:
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
            return str(response.text)
    return str(error)


def is_not_found(error: BaseException) -> bool:
    return http_status(error) == 404


def unless_status(call: Callable[[], T], statuses: Collection[int]) -> T | None:
    """`call()`, or None when Twilio answers with one of `statuses`. Any other failure (another
    answer, the network, a bug) goes up to the operation's report."""
    try:
        return call()
    except TwilioException as error:
        if http_status(error) in statuses:
            return None
        raise


def unless_gone(call: Callable[[], T]) -> T | None:
    """`call()`, or None when Twilio answers 404: the object is gone (a refresh forgets it, a
    delete is done). Any other failure goes up to the operation's report."""
    return unless_status(call, (404,))


class TwilioResourceError(Exception):
    """What a person reads in `pulumi up` output: which resource, which Twilio code, and
    what to do where we know."""

    # The provider host prints these as their message alone (no traceback): see the module
    # docstring of tools/provider_host/readable_errors.py.
    readable_without_traceback = True

    def __init__(self, kind: str, name: str, message: str, code: int | None = None) -> None:
        prefix = f"{kind} '{name}'"
        detail = f"Twilio error {code}: {message}" if code else message
        super().__init__(f"{prefix}: {detail}")
        self.code = code


# What to do, by HTTP status, once the transport's retries are spent (providers/transport.py).
_ADVICE_BY_STATUS = {
    401: "Twilio refused the credentials: check twilio:accountSid and twilio:authToken (or "
    "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN), then run `pulumi up` again.",
    403: "the credentials may not do this: use the parent account's auth token (not an API "
    "key), then run `pulumi up` again.",
    404: "Twilio no longer has this object: run `pulumi refresh` so the state forgets it, then "
    "`pulumi up` to make it again.",
    429: "Twilio kept answering 'too many requests' through every retry: wait a minute, then "
    "run `pulumi up` again (or with a lower `--parallel`).",
}
_ADVICE_5XX = (
    "Twilio failed on its side through every retry: run `pulumi up` again (safe: a create "
    "adopts what an earlier try made); https://status.twilio.com says when Twilio is degraded."
)


def _advice(status: int | None) -> str:
    if status is None:
        return ""
    if status >= 500:
        return _ADVICE_5XX
    return _ADVICE_BY_STATUS.get(status, "")


def describe_failure(kind: str, name: str, error: BaseException, doing: str) -> TwilioResourceError:
    """The one message for a failure of `twilio_failures()`."""
    import requests  # loaded already: the failure came through it, or through no HTTP at all

    if isinstance(error, UnknownOutcomeError):
        return TwilioResourceError(
            kind,
            name,
            f"{doing} failed: {error}. Twilio may or may not have done it. Run `pulumi up` "
            "again: a create first looks for the object by its identity tag and adopts it, so "
            "no twin is made.",
        )
    if isinstance(error, requests.Timeout | requests.ConnectionError):
        host = urlsplit(getattr(error.request, "url", "") or "").netloc or "Twilio"
        # A connect timeout is both: it reads as a timeout.
        if isinstance(error, requests.Timeout):
            what = (
                f"{host} did not answer in time. Check the network (or that the local emulator "
                "is running), then run `pulumi up` again."
            )
        else:
            what = (
                f"cannot reach {host} (connection refused or dropped). Against the local "
                "emulator, start it (`make emulator`); against Twilio, check the network."
            )
        return TwilioResourceError(kind, name, f"{doing} failed: {what}")
    code = twilio_code(error)
    message = f"{doing} failed: {twilio_message(error).rstrip('.')}."
    advice = _advice(http_status(error))
    if advice:
        message += f" {advice[0].upper()}{advice[1:]}"
    if code:
        message += f" (https://www.twilio.com/docs/errors/{code})"
    return TwilioResourceError(kind, name, message, code)


@contextmanager
def twilio_errors(kind: str, name: str, doing: str) -> Iterator[None]:
    """Report a Twilio or transport failure inside the block as the one message naming the
    resource; let our own refusals and every other exception (a bug) through untouched."""
    try:
        yield
    except TwilioResourceError:
        raise
    except twilio_failures() as error:
        readable = describe_failure(kind, name, error, doing)
        if debugging():
            raise readable from error  # the Twilio error and where it happened, kept
        # The frames below are the client library's, not what the person has to act on.
        raise readable.with_traceback(None) from None
