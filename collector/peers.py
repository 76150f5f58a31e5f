"""A refusal budget per client: a forger stops costing the event loop once it has spent it.

Twilio's callbacks come from Twilio; a flood of forged ones comes from some other client. Each
refused callback (400 or 403) spends one token of its client's bucket; buckets refill at
`per_second` up to `burst`. A client whose bucket is empty has its next connections cut off as
they are accepted (`collector.gate`), before a byte of them is read, held a moment and reset:
what a forger costs is then an accept, a timer and a reset, not an HTTP request cycle on the
loop that also serves Twilio.

Memory is bounded whatever the sources: only clients that were refused get a bucket, at most
`max_clients` of them, least recently refused first out. IPv6 clients are counted per /64 (one
host usually holds a whole /64, so counting its addresses one by one would give it a fresh
budget per address). A client that sent one bad request keeps almost all of its budget; one
that was cut off gets a connection through again `1 / per_second` seconds after it stops.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_REFUSALS_PER_SECOND = 10.0
DEFAULT_REFUSAL_BURST = 30
DEFAULT_MAX_CLIENTS = 10_000
DEFAULT_CUT_OFF_HOLD_S = 0.05
DEFAULT_MAX_HELD = 256
# `serve --workers N`: each worker process builds its app (and budget) from the environment.
REFUSALS_PER_SECOND_ENV = "COLLECTOR_REFUSALS_PER_SECOND"
REFUSAL_BURST_ENV = "COLLECTOR_REFUSAL_BURST"
CUT_OFF_HOLD_ENV = "COLLECTOR_CUT_OFF_HOLD"


class _Bucket:
    __slots__ = ("open", "tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated
        self.open = 0  # connections admitted by `admit` and not yet released


@dataclass(frozen=True)
class BudgetSettings:
    per_second: float = DEFAULT_REFUSALS_PER_SECOND
    burst: int = DEFAULT_REFUSAL_BURST
    max_clients: int = DEFAULT_MAX_CLIENTS
    # A cut-off connection is held unread this long before its reset (collector.gate), at
    # most `max_held` at a time (beyond, reset at once): 0 resets at once.
    hold_seconds: float = DEFAULT_CUT_OFF_HOLD_S
    max_held: int = DEFAULT_MAX_HELD

    def problem(self) -> str | None:
        """What is wrong with these settings, in one line, or None."""
        if self.per_second < 0:
            return "--refusals-per-second must be 0 (no budget) or more"
        if self.per_second > 0 and self.burst < 1:
            return "--refusal-burst must be at least 1"
        if not 0 <= self.hold_seconds <= 60:
            return "--cut-off-hold must be between 0 and 60 seconds"
        if self.max_clients < 1:
            return "the refusal budget must hold at least one client"
        return None

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def environment(self) -> dict[str, str]:
        return {
            REFUSALS_PER_SECOND_ENV: str(self.per_second),
            REFUSAL_BURST_ENV: str(self.burst),
            CUT_OFF_HOLD_ENV: str(self.hold_seconds),
        }

    @classmethod
    def from_environment(cls) -> BudgetSettings:
        rate = os.environ.get(REFUSALS_PER_SECOND_ENV)
        burst = os.environ.get(REFUSAL_BURST_ENV)
        hold = os.environ.get(CUT_OFF_HOLD_ENV)
        return cls(
            per_second=float(rate) if rate else DEFAULT_REFUSALS_PER_SECOND,
            burst=int(burst) if burst else DEFAULT_REFUSAL_BURST,
            hold_seconds=float(hold) if hold else DEFAULT_CUT_OFF_HOLD_S,
        )


def client_key(address: str) -> str:
    """The budget's key for a client address: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6
    by its /64, anything else (a Unix socket's empty name) as given."""
    if ":" not in address:
        return address
    try:
        parsed = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return address
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.IPv6Network((parsed, 64), strict=False))


class RefusalBudget:
    """Token buckets of refusals, one per client key, in a bounded LRU."""

    def __init__(
        self,
        settings: BudgetSettings = BudgetSettings(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.cut_off = 0  # connections closed unread because their client was over budget
        self.held = 0  # cut-off connections waiting for their reset (collector.gate)

    def __len__(self) -> int:
        return len(self._buckets)

    def spend(self, address: str) -> None:
        """Note one refused request of the client at `address`."""
        if not self.settings.enabled:
            return
        key = client_key(address)
        bucket = self._refilled(key)
        if bucket is None:
            bucket = _Bucket(float(self.settings.burst), self._clock())
            self._buckets[key] = bucket
            if len(self._buckets) > self.settings.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def exhausted(self, address: str) -> bool:
        """Whether the client at `address` has no refusal left. A client never refused has
        no bucket, and looking it up creates none."""
        if not self._buckets:
            return False
        bucket = self._refilled(client_key(address))
        return bucket is not None and bucket.tokens < 1.0

    def admit(self, address: str) -> bool | None:
        """A new connection of the client at `address`: False to cut it off, True when it
        is let through and counted open until `release`, None when the client was never
        refused (nothing counted, nothing to release).

        A client that was refused may have at most as many connections open as it has
        refusals left: without that bound, every connection accepted between a refill and
        the refusal that spends it got through (measured: 13 per refill from 32 connections
        reconnecting as fast as they could)."""
        if not self._buckets:
            return None
        bucket = self._refilled(client_key(address))
        if bucket is None:
            return None
        if bucket.tokens - bucket.open < 1.0:
            return False
        bucket.open += 1
        return True

    def release(self, address: str) -> None:
        """A connection that `admit` let through is closed."""
        bucket = self._buckets.get(client_key(address))
        if bucket is not None and bucket.open > 0:
            bucket.open -= 1

    def _refilled(self, key: str) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        now = self._clock()
        settings = self.settings
        bucket.tokens = min(
            float(settings.burst), bucket.tokens + (now - bucket.updated) * settings.per_second
        )
        bucket.updated = now
        return bucket
