"""`/metrics` of a collector served by several worker processes (`serve --workers N`).

A scrape reaches one worker, so each worker's own counters would show a part of the collector.
prometheus_client's documented multiprocess mode solves that: with PROMETHEUS_MULTIPROC_DIR set
before it is imported, every metric value lives in a memory-mapped file of its process in that
directory, and a `MultiProcessCollector` on any process merges all the files (counters and
histograms summed; the `known_accounts` gauge takes the most recent value). `collector.workers`
makes a fresh directory per start and removes it at exit.

The receiver's hot path still only bumps its plain counters (`collector.metrics`): once a
second (and before this worker answers a scrape, and at its shutdown) `SharedMetrics.sync`
adds what changed since the previous sync to the prometheus_client metrics, in a thread. So a
scrape sees its own worker's counts up to date and the others' at most a second old.

Labels must not depend on the worker a callback happened to reach. The `tenant` and
`error_code` labels are decided by one rule for all workers, in a label book
(`labels.json` in the directory):

- one worker at a time (the holder of an exclusive `flock` on `labels.lock`; if it dies, the
  next worker to try takes it over) reads every worker's traffic (`traffic-<pid>.json`: its
  final-status callbacks per account, service, status and code, rewritten every
  `TRAFFIC_INTERVAL_S`), decides, and writes the book atomically; every worker reads the book
  when it changes;
- error codes: the first `LABELLED_ERROR_CODES` (20) seen across workers keep their own label
  (the busiest first when several arrive together), later ones are `other`, as with one worker;
- tenants: a tenant (account) gets its own label while fewer than N (`--metrics-top-tenants`)
  have one, the busiest waiting first, if its series fit in the 8,000 labelled series budget;
  the others are `other`. **A label once given is kept until the collector restarts**: with one
  process a tenant leaving the top N hands its counts to `other`, but a value in the
  multiprocess files cannot be withdrawn, so moving it would count it twice. The bound is the
  same (N tenants, 8,000 labelled series when admitted, plus `other`'s 1,386), the choice is
  the busiest when a place was free rather than re-made every minute.

A callback counted before its tenant or code got a label stays where it was counted (`other`):
every series only ever grows. The budget is checked when a tenant is admitted; series a
labelled tenant opens later (a new use case or error code) are not re-checked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

from collector.metrics import (
    DEFAULT_TENANT_SERIES_BUDGET,
    DEFAULT_TOP_TENANTS,
    HELP,
    LABELLED_ERROR_CODES,
    OTHER,
    PREFIX,
    STORE_BUCKETS,
    Snapshot,
    TallyKey,
    _tenant_label,
    _use_case_label,
)
from collector.names import NameMap
from collector.workers import MULTIPROC_DIR_ENV

log = logging.getLogger("collector")

SYNC_INTERVAL_S = 1.0
TRAFFIC_INTERVAL_S = 2.0
BOOK_FILE = "labels.json"
LOCK_FILE = "labels.lock"
TRAFFIC_PREFIX = "traffic-"

# account -> (service, status, code) -> final-status callbacks
Traffic = dict[str, dict[tuple[str | None, str, str], int]]


@dataclass(frozen=True)
class LabelBook:
    """Which accounts carry their own `tenant` label, and which codes their own `error_code`."""

    accounts: frozenset[str] = frozenset()
    codes: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"accounts": sorted(self.accounts), "codes": list(self.codes)})

    @classmethod
    def from_json(cls, text: str) -> LabelBook:
        data = json.loads(text)
        return cls(frozenset(data["accounts"]), tuple(data["codes"]))


def decide(
    book: LabelBook,
    traffic: Mapping[str, Mapping[tuple[str | None, str, str], int]],
    names: NameMap,
    *,
    top_tenants: int = DEFAULT_TOP_TENANTS,
    series_budget: int = DEFAULT_TENANT_SERIES_BUDGET,
) -> LabelBook:
    """The next book: `book`'s labels kept, places still free given to the busiest waiting."""
    per_code: dict[str, int] = {}
    for keys in traffic.values():
        for (_, _, code), count in keys.items():
            if code:
                per_code[code] = per_code.get(code, 0) + count
    codes = list(book.codes)
    for code in sorted(per_code, key=lambda c: (-per_code[c], c)):
        if len(codes) >= LABELLED_ERROR_CODES:
            break
        if code not in codes:
            codes.append(code)
    labelled_codes = frozenset(codes)

    def series(account: str) -> int:
        return len(
            {
                (_use_case_label(names, service), status, code_label(code, labelled_codes))
                for service, status, code in traffic.get(account, {})
            }
        )

    accounts = set(book.accounts)
    used = sum(series(account) for account in accounts)
    waiting = sorted(
        (a for a in traffic if a not in accounts), key=lambda a: (-sum(traffic[a].values()), a)
    )
    for account in waiting:
        if len(accounts) >= top_tenants:
            break
        cost = series(account)
        if used + cost > series_budget:
            continue  # would not fit: `other`; a smaller tenant may still fit
        accounts.add(account)
        used += cost
    return LabelBook(frozenset(accounts), tuple(codes))


def code_label(code: str, labelled: frozenset[str]) -> str:
    return code if not code or code in labelled else OTHER


def multiprocess_directory() -> Path | None:
    """The PROMETHEUS_MULTIPROC_DIR this process was started with, if any."""
    path = os.environ.get(MULTIPROC_DIR_ENV)
    return Path(path) if path else None


def render_merged(directory: Path) -> bytes:
    """Every worker's metrics, merged (prometheus_client's MultiProcessCollector)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry)


@dataclass
class _Pushed:
    """What this worker has added to the shared metrics so far."""

    answers: dict[int, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    tally: dict[TallyKey, int] = field(default_factory=dict)
    latency: list[int] = field(default_factory=lambda: [0] * (len(STORE_BUCKETS) + 1))
    latency_total: float = 0.0
    cut_off: int = 0
    twilio: dict[str, int] = field(default_factory=dict)
    taken: int = -1  # the synced snapshot's time (Snapshot.taken)


class SharedMetrics:
    """One worker's part of the collector's metrics, in the multiprocess files."""

    def __init__(
        self,
        directory: Path,
        names: Callable[[], NameMap],
        *,
        top_tenants: int = DEFAULT_TOP_TENANTS,
        series_budget: int = DEFAULT_TENANT_SERIES_BUDGET,
    ) -> None:
        if not values.ValueClass.__name__.startswith("Mmaped"):
            raise RuntimeError(
                "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: "
                "the workers' metrics would not be shared"
            )
        self.directory = directory
        self.names = names
        self.top_tenants = top_tenants
        self.series_budget = series_budget
        self.book = LabelBook()
        self._book_stamp: tuple[int, int, int] | None = None
        self._leader: IO[bytes] | None = None
        self._traffic_written_at = float("-inf")
        self._pushed = _Pushed()
        self._lock = threading.Lock()  # one sync at a time (the timer's, a scrape's, the last)
        self._traffic_path = directory / f"{TRAFFIC_PREFIX}{os.getpid()}.json"
        registry = CollectorRegistry()  # not the global one: nothing else shares these names
        self.received = Counter(
            f"{PREFIX}_callbacks_received", HELP["callbacks_received"], registry=registry
        )
        self.stored = Counter(
            f"{PREFIX}_callbacks_stored", HELP["callbacks_stored"], registry=registry
        )
        self.refused = Counter(
            f"{PREFIX}_callbacks_refused",
            HELP["callbacks_refused"],
            ["reason"],
            registry=registry,
        )
        self.cut_off = Counter(
            f"{PREFIX}_connections_cut_off", HELP["connections_cut_off"], registry=registry
        )
        self.messages = Counter(
            f"{PREFIX}_messages",
            HELP["messages"],
            ["tenant", "use_case", "status", "error_code"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_store_seconds",
            HELP["store_seconds"],
            buckets=STORE_BUCKETS,
            registry=registry,
        )
        self.known_accounts = Gauge(
            f"{PREFIX}_known_accounts",
            HELP["known_accounts"],
            multiprocess_mode="mostrecent",  # every worker lists the same estate
            registry=registry,
        )
        self.twilio = Counter(
            f"{PREFIX}_twilio_requests", HELP["twilio_requests"], ["call"], registry=registry
        )
        # Series that exist from the start, as with one process (a dashboard's query for
        # them finds a zero rather than nothing).
        for counter in (self.received, self.stored, self.cut_off):
            counter.inc(0)

    # --- syncing -------------------------------------------------------------------------

    def sync(self, snapshot: Snapshot) -> None:
        """Add what changed since the previous sync (runs in a thread). A snapshot older than
        the last one synced is dropped: the timer's and a scrape's syncs run on threads of
        their own, and pushing an older one's totals after a newer one's would count the gap
        between them twice at the next sync."""
        with self._lock:
            if snapshot.taken <= self._pushed.taken:
                return
            self._pushed.taken = snapshot.taken
            now = time.monotonic()
            if now - self._traffic_written_at >= TRAFFIC_INTERVAL_S:
                self._traffic_written_at = now
                self._write_traffic(snapshot.tally)
                if self._lead():
                    self._decide()
            self._read_book()
            self._push(snapshot)

    def close(self) -> None:
        if self._leader is not None:
            self._leader.close()  # releases the flock: another worker takes over
            self._leader = None

    def _push(self, snap: Snapshot) -> None:
        pushed = self._pushed
        received = sum(snap.answers.values())
        _inc(self.received, received - sum(pushed.answers.values()))
        _inc(self.stored, snap.answers.get(200, 0) - pushed.answers.get(200, 0))
        pushed.answers = dict(snap.answers)
        for reason, count in snap.refusals.items():
            _inc(self.refused.labels(reason), count - pushed.refusals.get(reason, 0))
        pushed.refusals = dict(snap.refusals)
        _inc(self.cut_off, snap.connections_cut_off - pushed.cut_off)
        pushed.cut_off = snap.connections_cut_off
        for call, count in snap.twilio_requests.items():
            _inc(self.twilio.labels(call), count - pushed.twilio.get(call, 0))
        pushed.twilio = dict(snap.twilio_requests)
        self.known_accounts.set(snap.known_accounts)
        # The histogram's buckets take the count of each bucket (not cumulative), as
        # Histogram.observe adds them; prometheus_client has no public call to add a count.
        for index, count in enumerate(snap.latency.counts):
            _inc(self.latency._buckets[index], count - pushed.latency[index])
        _inc(self.latency._sum, snap.latency.total - pushed.latency_total)
        pushed.latency = list(snap.latency.counts)
        pushed.latency_total = snap.latency.total
        self._push_messages(snap.tally)

    def _push_messages(self, tally: Mapping[TallyKey, int]) -> None:
        pushed = self._pushed.tally
        names = self.names()
        book = self.book
        codes = frozenset(book.codes)
        for key, count in tally.items():
            delta = count - pushed.get(key, 0)
            if delta <= 0:
                continue
            account, service, status, code = key
            tenant = _tenant_label(names, account) if account in book.accounts else OTHER
            labels = (tenant, _use_case_label(names, service), status, code_label(code, codes))
            self.messages.labels(*labels).inc(delta)
            pushed[key] = count

    # --- the label book --------------------------------------------------------------------

    def _write_traffic(self, tally: Mapping[TallyKey, int]) -> None:
        rows = [[a, s, st, c, n] for (a, s, st, c), n in tally.items()]
        temporary = self._traffic_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(rows))
        os.replace(temporary, self._traffic_path)

    def _lead(self) -> bool:
        if self._leader is not None:
            return True
        handle = open(self.directory / LOCK_FILE, "ab")  # noqa: SIM115 (kept open: the lock)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._leader = handle
        log.info("this worker (%d) keeps the metrics' label book", os.getpid())
        return True

    def _decide(self) -> None:
        traffic: Traffic = {}
        for path in self.directory.glob(f"{TRAFFIC_PREFIX}*.json"):
            try:
                rows = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a worker that just died mid-rename: next time
            for account, service, status, code, count in rows:
                keys = traffic.setdefault(account, {})
                keys[(service, status, code)] = keys.get((service, status, code), 0) + count
        book = decide(
            self._current_book(),
            traffic,
            self.names(),
            top_tenants=self.top_tenants,
            series_budget=self.series_budget,
        )
        if book != self.book:
            temporary = self.directory / (BOOK_FILE + f".{os.getpid()}.tmp")
            temporary.write_text(book.to_json())
            os.replace(temporary, self.directory / BOOK_FILE)

    def _current_book(self) -> LabelBook:
        """The book on disk (a former leader's), else this worker's."""
        self._read_book()
        return self.book

    def _read_book(self) -> None:
        path = self.directory / BOOK_FILE
        try:
            stat = path.stat()
        except FileNotFoundError:
            return
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp == self._book_stamp:
            return
        with contextlib.suppress(OSError, ValueError, KeyError):
            self.book = LabelBook.from_json(path.read_text())
            self._book_stamp = stamp


def _inc(value, amount: float) -> None:
    if amount > 0:
        value.inc(amount)
