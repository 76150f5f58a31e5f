"""Spend per account and day, from Twilio's Usage Records (read with the parent's credentials).

Twilio meters messaging per account in the `sms` and `mms` usage categories; Daily records give
the price per day, in the account's currency.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from twilio_access.credentials import TwilioSession

SPEND_CATEGORIES = ("sms", "mms")


class UsageError(RuntimeError):
    """Usage could not be read (Twilio unreachable, refused): reports say so and go on."""


@dataclass(frozen=True)
class Spend:
    account_sid: str
    day: str  # YYYY-MM-DD, UTC (Twilio's usage days are GMT)
    amount: Decimal
    unit: str


class UsageSource(Protocol):
    def spend(self, account_sids: Sequence[str], first_day: str, last_day: str) -> list[Spend]:
        """Messaging spend per account and day, for days first_day..last_day inclusive."""
        ...


class StaticUsageSource:
    """Fixed spend (tests)."""

    def __init__(self, items: Sequence[Spend]) -> None:
        self.items = list(items)
        self.calls = 0

    def spend(self, account_sids: Sequence[str], first_day: str, last_day: str) -> list[Spend]:
        self.calls += 1
        wanted = set(account_sids)
        return [
            item
            for item in self.items
            if item.account_sid in wanted and first_day <= item.day <= last_day
        ]


class TwilioUsageSource:
    """Daily Usage Records of each account, fetched by the parent (it may read its
    subaccounts' usage through `/Accounts/{sid}/Usage`)."""

    def __init__(self, session: TwilioSession, categories: Sequence[str] = SPEND_CATEGORIES):
        self.session = session
        self.categories = tuple(categories)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TwilioUsageSource:
        from twilio_access.credentials import TwilioSession, resolve_parent_credentials

        return cls(TwilioSession(resolve_parent_credentials({}, environ)))

    def spend(self, account_sids: Sequence[str], first_day: str, last_day: str) -> list[Spend]:
        from twilio.base.exceptions import TwilioException

        client = self.session.parent()
        totals: dict[tuple[str, str], tuple[Decimal, str]] = {}
        try:
            for account_sid in account_sids:
                daily = client.api.v2010.accounts(account_sid).usage.records.daily
                for category in self.categories:
                    for record in daily.stream(
                        category=category,
                        # A parent's records include its subaccounts' unless told not to.
                        include_subaccounts=False,
                        start_date=date.fromisoformat(first_day),
                        end_date=date.fromisoformat(last_day),
                    ):
                        if record.price is None or record.start_date is None:
                            continue
                        key = (account_sid, record.start_date.isoformat())
                        amount, unit = totals.get(key, (Decimal(0), record.price_unit or ""))
                        totals[key] = (amount + _price(record.price), unit)
        except (TwilioException, OSError) as error:
            raise UsageError(str(error) or type(error).__name__) from None
        return [
            Spend(account_sid, day, amount, unit.upper())
            for (account_sid, day), (amount, unit) in sorted(totals.items())
        ]


def _price(value: object) -> Decimal:
    """Twilio's price as a decimal; a JSON number arrives as a binary float (or its exact
    expansion), so go through its shortest repr: 0.0079, not 0.00789999999999999984."""
    return Decimal(repr(float(value)))  # type: ignore[arg-type]


class CachedUsageSource:
    """Keeps answers for `ttl` seconds: the dashboard reloads often, usage changes slowly."""

    def __init__(self, source: UsageSource, ttl: float = 60.0) -> None:
        self.source = source
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[tuple, tuple[float, list[Spend]]] = {}

    def spend(self, account_sids: Sequence[str], first_day: str, last_day: str) -> list[Spend]:
        key = (tuple(sorted(account_sids)), first_day, last_day)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        items = self.source.spend(account_sids, first_day, last_day)
        with self._lock:
            self._cache[key] = (time.monotonic(), items)
        return items
