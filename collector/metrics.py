"""Prometheus metrics of the collector (`GET /metrics`, the standard `prometheus_client`).

Exported (prefix `tlz_collector_`):
- `callbacks_received_total`, `callbacks_stored_total`, `callbacks_refused_total{reason}`;
- `messages_total{tenant,use_case,status,error_code}`: final-status callbacks stored, per
  tenant and use case (names from the name maps; `none`: sent without a service, `unknown`:
  a service in no map);
- `store_seconds` (histogram): from a callback's arrival at the writer to its commit;
- `known_accounts`, `twilio_requests_total{call}`: the estate and what it cost to know it.

The hot path only bumps plain counters (one dict entry per account, service, status and
error code); labels are worked out when `/metrics` is scraped, from a snapshot taken on the
event loop.

Cardinality. At most `top_tenants` tenants (N, default 500) carry their own `tenant` label:
the busiest by callbacks since the previous rebalance (every `rebalance_s`, 60 s); the others
count as `other`. The first 20 error codes seen keep their own label, later ones count as
`other`. Labelled series are capped at `tenant_series_budget` (8,000): a tenant whose series
would not fit goes to `other`. `other` holds at most 9 use cases x 7 final statuses x 22 codes
(20, none, other) = 1,386 series, so the endpoint
stays under 10,000 series whatever the traffic (3,000 tenants included: see the tests). N=500
because a busy tenant has about 6-16 series (1-2 use cases x delivered plus a few codes of
undelivered/failed): 500 of them fill the budget at the high end. A tenant moved to `other`
keeps its count there, so every series only ever grows.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from collector.events import StatusEvent
from collector.names import NameMap
from collector.statuses import FINAL_STATUSES

PREFIX = "tlz_collector"
OTHER = "other"
NO_SERVICE = "none"
UNKNOWN_USE_CASE = "unknown"
LABELLED_ERROR_CODES = 20
DEFAULT_TOP_TENANTS = 500
DEFAULT_TENANT_SERIES_BUDGET = 8_000
DEFAULT_REBALANCE_S = 60.0
# Seconds; a commit is ~1 ms alone and tens of ms under load, an fsync on a slow disk more.
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# Shared with `collector.shared_metrics` (`serve --workers N`): one wording whatever serves it.
HELP = {
    "callbacks_received": "Status callbacks answered, whatever the answer.",
    "callbacks_stored": "Status callbacks committed and answered 200.",
    "callbacks_refused": "Status callbacks refused, by reason.",
    "connections_cut_off": "Connections reset unread: their client had spent its refusal budget.",
    "messages": "Final-status callbacks stored, per tenant, use case, status and error code "
    "(top tenants by traffic; the rest as 'other').",
    "store_seconds": "From a callback's hand-over to the writer to the commit that holds it.",
    "known_accounts": "Accounts of the estate the collector accepts.",
    "twilio_requests": "Calls the collector made to Twilio, by kind.",
}

# (account SID, service SID or None, status, error code or "") -> final-status callbacks
TallyKey = tuple[str, str | None, str, str]


@dataclass
class StoreLatency:
    """A histogram kept by the event loop alone: no lock per observation."""

    buckets: tuple[float, ...] = STORE_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(STORE_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds

    def snapshot(self) -> StoreLatency:
        return StoreLatency(self.buckets, list(self.counts), self.total)


@dataclass
class Snapshot:
    """What the event loop hands to a scrape (copied, so the loop goes on changing its own)."""

    answers: Counter[int]
    refusals: Counter[str]
    tally: dict[TallyKey, int]
    latency: StoreLatency
    known_accounts: int
    twilio_requests: dict[str, int]
    connections_cut_off: int = 0  # by the refusal budget (collector.gate), unread
    # When it was taken (time.monotonic_ns): every count in it is a running total, so of two
    # snapshots the later one holds all the earlier one does.
    taken: int = field(default_factory=time.monotonic_ns)


class DeliveryMetrics:
    """The live counters, owned by the event loop."""

    def __init__(self) -> None:
        self.tally: dict[TallyKey, int] = {}
        self.latency = StoreLatency()

    def stored(self, event: StatusEvent, seconds: float) -> None:
        self.latency.observe(seconds)
        if event.status in FINAL_STATUSES:
            key = (
                event.account_sid,
                event.messaging_service_sid,
                event.status,
                event.error_code or "",
            )
            self.tally[key] = self.tally.get(key, 0) + 1


class TenantLabels:
    """Which accounts carry a tenant label, and what has gone to `other` (see the module
    docstring). Members are re-chosen every `rebalance_s` by traffic since the last time."""

    def __init__(self, top_tenants: int, series_budget: int, rebalance_s: float) -> None:
        self.top_tenants = top_tenants
        self.series_budget = series_budget
        self.rebalance_s = rebalance_s
        # account -> what `other` had already shown of it when it got its label: the label
        # counts the rest, so neither series ever goes down
        self.baselines: dict[str, dict[tuple[str | None, str, str], int]] = {}
        # each account's counts as of the previous page (what has been shown so far)
        self.shown: dict[str, dict[tuple[str | None, str, str], int]] = {}
        self._last_totals: dict[str, int] = {}
        self._rebalanced_at = float("-inf")

    def rebalance(self, per_account: Mapping[str, dict], now: float) -> None:
        if now - self._rebalanced_at < self.rebalance_s and self.baselines:
            self._admit_new(per_account)
            return
        self._rebalanced_at = now
        totals = {account: sum(keys.values()) for account, keys in per_account.items()}
        recent = {a: total - self._last_totals.get(a, 0) for a, total in totals.items()}
        self._last_totals = totals
        ranked = sorted(totals, key=lambda a: (-recent[a], -totals[a], a))
        chosen = set(ranked[: self.top_tenants])
        for account in list(self.baselines):
            if account not in chosen:
                del self.baselines[account]  # its counts from now on, and so far, are `other`
        for account in ranked[: self.top_tenants]:
            if account not in self.baselines:
                self.baselines[account] = dict(self.shown.get(account, {}))

    def _admit_new(self, per_account: Mapping[str, dict]) -> None:
        """Between rebalances, free places go to the busiest accounts waiting."""
        free = self.top_tenants - len(self.baselines)
        if free <= 0:
            return
        waiting = [a for a in per_account if a not in self.baselines]
        waiting.sort(key=lambda a: (-sum(per_account[a].values()), a))
        for account in waiting[:free]:
            self.baselines[account] = dict(self.shown.get(account, {}))


class MetricsExporter:
    """Builds the `/metrics` page from a snapshot (runs in a worker thread, one at a time)."""

    def __init__(
        self,
        names: Callable[[], NameMap],
        *,
        top_tenants: int = DEFAULT_TOP_TENANTS,
        tenant_series_budget: int = DEFAULT_TENANT_SERIES_BUDGET,
        rebalance_s: float = DEFAULT_REBALANCE_S,
    ) -> None:
        self.names = names
        self.labels = TenantLabels(top_tenants, tenant_series_budget, rebalance_s)
        # Sticky: a code's label never changes, so no series ever shrinks.
        self.code_labels: dict[str, str] = {"": ""}
        self._lock = threading.Lock()

    def render(self, snapshot: Snapshot) -> bytes:
        with self._lock:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Families(list(self._families(snapshot))))
            return generate_latest(registry)

    def _families(self, snap: Snapshot) -> Iterator:
        received = CounterMetricFamily(f"{PREFIX}_callbacks_received", HELP["callbacks_received"])
        received.add_metric([], sum(snap.answers.values()))
        yield received
        stored = CounterMetricFamily(f"{PREFIX}_callbacks_stored", HELP["callbacks_stored"])
        stored.add_metric([], snap.answers.get(200, 0))
        yield stored
        refused = CounterMetricFamily(
            f"{PREFIX}_callbacks_refused", HELP["callbacks_refused"], labels=["reason"]
        )
        for reason, count in sorted(snap.refusals.items()):
            refused.add_metric([reason], count)
        yield refused
        cut_off = CounterMetricFamily(
            f"{PREFIX}_connections_cut_off",
            HELP["connections_cut_off"],
        )
        cut_off.add_metric([], snap.connections_cut_off)
        yield cut_off
        yield self._messages(snap.tally)
        latency = HistogramMetricFamily(
            f"{PREFIX}_store_seconds",
            HELP["store_seconds"],
        )
        cumulative, buckets = 0, []
        for bound, count in zip(
            [*map(str, snap.latency.buckets), "+Inf"], snap.latency.counts, strict=True
        ):
            cumulative += count
            buckets.append((bound, cumulative))
        latency.add_metric([], buckets, snap.latency.total)
        yield latency
        known = GaugeMetricFamily(f"{PREFIX}_known_accounts", HELP["known_accounts"])
        known.add_metric([], snap.known_accounts)
        yield known
        twilio = CounterMetricFamily(
            f"{PREFIX}_twilio_requests",
            HELP["twilio_requests"],
            labels=["call"],
        )
        for call, count in sorted(snap.twilio_requests.items()):
            twilio.add_metric([call], count)
        yield twilio

    def _messages(self, tally: Mapping[TallyKey, int]) -> CounterMetricFamily:
        family = CounterMetricFamily(
            f"{PREFIX}_messages",
            HELP["messages"],
            labels=["tenant", "use_case", "status", "error_code"],
        )
        names = self.names()
        per_account: dict[str, dict[tuple[str | None, str, str], int]] = {}
        for (account, service, status, code), count in tally.items():
            per_account.setdefault(account, {})[(service, status, code)] = count
            if code not in self.code_labels:
                labelled = len(self.code_labels) - 1 < LABELLED_ERROR_CODES
                self.code_labels[code] = code if labelled else OTHER
        self.labels.rebalance(per_account, time.monotonic())

        series: dict[tuple[str, str, str, str], int] = {}
        other: Counter[tuple[str, str, str, str]] = Counter()
        used = 0
        busiest_first = sorted(per_account.items(), key=lambda item: -sum(item[1].values()))
        for account, keys in busiest_first:
            baseline = self.labels.baselines.get(account)
            tenant = _tenant_label(names, account)
            mine: dict[tuple[str, str, str, str], int] = {}
            for (service, status, code), count in keys.items():
                label = (_use_case_label(names, service), status, self.code_labels[code])
                if baseline is None:
                    other[(OTHER, *label)] += count
                    continue
                before = baseline.get((service, status, code), 0)
                other[(OTHER, *label)] += before
                key = (tenant, *label)
                mine[key] = mine.get(key, 0) + count - before
            if baseline is None:
                continue
            if used + len(mine) > self.labels.series_budget:
                # No room: this tenant is `other` from now on (its label's count moves there).
                del self.labels.baselines[account]
                for (_, use_case, status, code_label), count in mine.items():
                    other[(OTHER, use_case, status, code_label)] += count
                continue
            used += len(mine)
            for key, count in mine.items():
                series[key] = series.get(key, 0) + count
        for key, count in other.items():
            series[key] = series.get(key, 0) + count
        self.labels.shown = per_account
        for key, count in sorted(series.items()):
            family.add_metric(list(key), count)
        return family


def _tenant_label(names: NameMap, account_sid: str) -> str:
    return names.tenant_of(account_sid) or names.friendly_names.get(account_sid) or account_sid


def _use_case_label(names: NameMap, service_sid: str | None) -> str:
    if not service_sid:
        return NO_SERVICE
    return names.use_case_of(service_sid) or UNKNOWN_USE_CASE


class _Families:
    """A registry collector that yields prepared metric families."""

    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self) -> Iterator:
        return iter(self.families)
