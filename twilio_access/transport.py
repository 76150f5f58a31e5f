"""Retries and per-account concurrency for the Twilio requests of the providers, the collector
and estate (audit).

The official client has no back-off of its own (its `max_retries` only reaches an https
adapter), so this layer wraps whatever HTTP client talks to Twilio or the emulator:

- 429 is always retried: Twilio did not process the request. `Retry-After` is honoured.
- 5xx and dropped connections are retried only when repeating the request is harmless:
  reads, deletes, and POSTs to an existing object (an update sets fields; doing it twice is
  the same). A POST to a collection creates something; if its answer is lost, the outcome is
  unknown and repeating it could make a twin, so the error goes up to the provider, which
  looks for the object by its identity tag before creating again.
- Each account gets a bounded number of requests in flight, as Twilio's own limits apply
  per account.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from twilio.http import HttpClient
from twilio.http.response import Response

# Defined beside nothing heavy (outcomes.py says why); raised here, exported from here too.
from twilio_access.outcomes import UnknownOutcomeError as UnknownOutcomeError

# The last path segment of an existing object: a SID, with `.json` on the 2010 API.
_INSTANCE_SEGMENT = re.compile(r"^[A-Z]{2}[0-9a-f]{32}(\.json)?$")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 10.0
    per_account_concurrency: int = 16
    # Accounts with a bound of their own: the parent, when the fleet gives each running
    # group a share of its budget (`parent_in_flight_from_environment`).
    account_concurrency: Mapping[str, int] = field(default_factory=dict)

    def concurrency_for(self, account: str) -> int:
        return self.account_concurrency.get(account, self.per_account_concurrency)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential back-off with full jitter; Retry-After is a floor, never ignored."""
        exponential = min(self.max_delay, self.base_delay * (2**attempt))
        delay = random.uniform(0, exponential)
        return max(delay, retry_after or 0.0)


PARENT_IN_FLIGHT_VARIABLE = "TLZ_PARENT_IN_FLIGHT"


def parent_in_flight_from_environment() -> int | None:
    """The parent account's in-flight bound for this process, when one is set.

    Every stack signs with the parent account, while each customer's subaccount belongs to one
    stack: `python -m fleet` splits the parent's budget across the groups it runs at once and
    hands each its share in TLZ_PARENT_IN_FLIGHT."""
    value = os.environ.get(PARENT_IN_FLIGHT_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            f"{PARENT_IN_FLIGHT_VARIABLE}: a whole number of requests >= 1, got {value!r}"
        )
    return int(value)


def is_repeatable(method: str, url: str) -> bool:
    """True when sending the same request twice has the same effect as sending it once."""
    if method.upper() in {"GET", "DELETE", "HEAD"}:
        return True
    last_segment = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return bool(_INSTANCE_SEGMENT.match(last_segment))


def retry_after_seconds(headers) -> float | None:
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class AccountGate:
    """At most `per_account` requests in flight per signing account (the username of the
    request's Basic auth), as Twilio's own limits apply per account."""

    def __init__(self, per_account: int) -> None:
        self.per_account = per_account
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def slot(self, auth: tuple[str, str] | None) -> threading.BoundedSemaphore:
        account = auth[0] if auth else ""
        with self._lock:
            slot = self._slots.get(account)
            if slot is None:
                slot = self._slots[account] = threading.BoundedSemaphore(self.per_account)
            return slot


class RetryingHttpClient(HttpClient):
    """Wraps another twilio HttpClient (the real one, or the emulator router)."""

    # One gate per size for the whole process: every client of a provider process shares
    # its accounts' slots, whichever resource's call built it.
    _gates: dict[int, AccountGate] = {}
    _gates_lock = threading.Lock()

    def __init__(
        self,
        inner: HttpClient,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(logger=inner.logger, is_async=False, timeout=inner.timeout)
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    def _slot(self, auth) -> threading.BoundedSemaphore:
        account = auth[0] if auth else ""
        size = self.policy.concurrency_for(account)
        with self._gates_lock:
            gate = self._gates.get(size)
            if gate is None:
                gate = self._gates[size] = AccountGate(size)
        return gate.slot(auth)

    def request(
        self,
        method: str,
        url: str,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects: bool = False,
    ) -> Response:
        repeatable = is_repeatable(method, url)
        attempt = 0
        while True:
            try:
                with self._slot(auth):
                    response = self.inner.request(
                        method, url, params, data, headers, auth, timeout, allow_redirects
                    )
            except (requests.ConnectionError, requests.Timeout) as error:
                if not repeatable:
                    raise UnknownOutcomeError(method, url, type(error).__name__) from error
                if attempt + 1 >= self.policy.attempts:
                    raise
                self._sleep(self.policy.backoff(attempt, None))
                attempt += 1
                continue
            status = response.status_code
            retryable = status == 429 or (status >= 500 and repeatable)
            if not retryable or attempt + 1 >= self.policy.attempts:
                if status >= 500 and not repeatable:
                    raise UnknownOutcomeError(method, url, f"HTTP {status}")
                return response
            self._sleep(self.policy.backoff(attempt, retry_after_seconds(response.headers)))
            attempt += 1
