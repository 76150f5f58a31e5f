"""The collector load test's measurements: one receiver's process and the runs against it,
with the CPU, rows stored and /metrics scrapes of each."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.collector_load_shape import ACCOUNTS, GROUP_COMMIT, REPO_ROOT, TOKENS_ENV, split_name
from bench.collector_load_traffic import drive, signed_requests

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class LevelResult:
    receiver: str
    concurrency: int
    sent: int
    ok: int
    errors: int
    stored: int | None  # None: the HTTP floor stores nothing
    seconds: float
    latencies_ms: list[float]
    loader_cpu: float  # share of one core
    server_cpu: float
    batches: int | None = None  # group commit only: commits in this run
    commit_ms: float | None = None  # and the mean time in COMMIT (the fsync)
    lost: int = 0  # over every round: 2xx answers whose row is missing
    rounds: list[int] = field(default_factory=list)  # events/s of each round
    scrapes: int = 0  # GET /metrics during the run
    scrape_ms: float | None = None  # their mean duration

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_event_us(self) -> float:
        """The receiver's CPU time per answered event: less swayed by a loaded machine than
        the rate (its share of the cores is what the load takes away)."""
        return self.server_cpu * self.seconds / self.ok * 1e6 if self.ok else float("nan")

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.5) - 1))]


def _process_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (uvicorn's worker processes)."""
    total = 0.0
    parents = {pid}
    for entry in sorted(os.listdir("/proc"), key=lambda name: (not name.isdigit(), name)):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) in parents:
            parents.add(int(entry))
            total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def _stored(database_url: str) -> int:
    from sqlalchemy import func, select

    from collector.storage.database import create_database_engine
    from collector.storage.schema import status_events

    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(status_events)).scalar_one()
    finally:
        engine.dispose()


def _writer_stats(port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
        return json.loads(answer.read())["writer"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"receiver exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("receiver did not start")


class MetricsScraper:
    """GET /metrics every `interval` seconds in a thread, as a Prometheus server would."""

    def __init__(self, port: int, interval: float = 1.0) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.interval = interval
        self.durations: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-scraper", daemon=True)

    def __enter__(self) -> MetricsScraper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as answer:
                    answer.read()
            except OSError:
                self.failures += 1
                continue
            self.durations.append(time.perf_counter() - started)


BASELINE_SUFFIX = "@base"  # the same receiver served by the code of `--baseline CHECKOUT`


class Receiver:
    """One receiver's server process, its database, and the runs measured against it."""

    def __init__(
        self, name: str, workdir: Path, tag: int, scrape: bool = True, checkout: Path = REPO_ROOT
    ) -> None:
        self.name = name
        # `group-commit-2w`: the collector in 2 worker processes; `@base`: the other checkout's
        # collector, one process (as its `serve` receiver runs).
        self.kind, self.workers = split_name(name.removesuffix(BASELINE_SUFFIX))
        self.database_url = f"sqlite:///{workdir / (name + '.db')}"
        self.port = _free_port()
        self.durable = self.kind != "http-floor"
        self.tag = tag
        self.runs = 0
        self.scrape = scrape and self.kind in GROUP_COMMIT
        env = {**os.environ, TOKENS_ENV: json.dumps(ACCOUNTS)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
        python = sys.executable if checkout == REPO_ROOT else str(checkout / ".venv/bin/python")
        command = [python, "-m", "bench.collector_load", "serve", self.kind]
        command += [self.database_url, str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.process = subprocess.Popen(command, cwd=checkout, env=env)

    def warm_up(self) -> None:
        """Token cache, first connections, SQLite pages: not measured."""
        _wait_listening(self.port, self.process)
        if self.workers > 1:
            self._wait_for_every_worker()
        asyncio.run(drive(self.port, signed_requests(self.port, 400, self.tag), 8, 10.0))

    def _wait_for_every_worker(self, timeout: float = 120.0) -> None:
        """Until each worker process has answered: the socket accepts as soon as the parent
        has bound it, and connections opened while a worker is still starting all go to the
        others (and, kept alive, stay there for the whole run)."""
        pids: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(pids) < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: {len(pids)} of {self.workers} workers answered")
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=10) as answer:
                pids.add(json.loads(answer.read())["pid"])

    def measure(self, concurrency: int, events: int, seconds: float) -> LevelResult:
        self.runs += 1
        payloads = signed_requests(self.port, events, self.tag + self.runs)
        # The writer's commits, from /healthz: one process's, so with one worker only.
        writer = self.kind == "group-commit" and self.workers == 1
        before_rows = _stored(self.database_url) if self.durable else 0
        before_cpu = _process_cpu(self.process.pid)
        before_writer = _writer_stats(self.port) if writer else None
        scraper = MetricsScraper(self.port) if self.scrape else contextlib.nullcontext()
        with scraper:
            sent, statuses, latencies, elapsed, loader_cpu = asyncio.run(
                drive(self.port, payloads, concurrency, seconds)
            )
        server_cpu = _process_cpu(self.process.pid) - before_cpu
        ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
        result = LevelResult(
            receiver=self.name,
            concurrency=concurrency,
            sent=sent,
            ok=ok,
            errors=sent - ok,
            stored=_stored(self.database_url) - before_rows if self.durable else None,
            seconds=elapsed,
            latencies_ms=latencies,
            loader_cpu=loader_cpu / elapsed,
            server_cpu=server_cpu / elapsed,
        )
        if isinstance(scraper, MetricsScraper):
            if scraper.failures:
                raise RuntimeError(f"{scraper.failures} scrapes of /metrics failed")
            result.scrapes = len(scraper.durations)
            if scraper.durations:
                result.scrape_ms = sum(scraper.durations) / len(scraper.durations) * 1e3
        if before_writer is not None:
            after = _writer_stats(self.port)
            result.batches = after["commits"] - before_writer["commits"]
            in_commit = after["commit_seconds"] - before_writer["commit_seconds"]
            result.commit_ms = in_commit / result.batches * 1e3 if result.batches else None
        return result

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def run(
    names: Sequence[str],
    workdir: Path,
    levels: Sequence[int],
    events: int,
    seconds: float,
    rounds: int,
    scrape: bool = True,
    baseline: Path | None = None,
) -> list[LevelResult]:
    """Every receiver at every level, `rounds` times, taking turns: a burst of load from
    elsewhere on this shared machine then hits all receivers alike, not one of them. Each
    (receiver, level) keeps its median round by rate. Names ending in `@base` are served by
    the `baseline` checkout's code."""
    receivers = [
        Receiver(
            name,
            workdir,
            (index + 1) << 16,
            scrape,
            baseline if name.endswith(BASELINE_SUFFIX) and baseline else REPO_ROOT,
        )
        for index, name in enumerate(names)
    ]
    try:
        for receiver in receivers:
            receiver.warm_up()
        results = []
        for concurrency in levels:
            measured: dict[str, list[LevelResult]] = {r.name: [] for r in receivers}
            for _ in range(rounds):
                for receiver in receivers:
                    measured[receiver.name].append(receiver.measure(concurrency, events, seconds))
            for receiver in receivers:
                runs = sorted(measured[receiver.name], key=lambda r: r.rate)
                median = runs[len(runs) // 2]
                median.lost = sum(r.ok - r.stored for r in runs if r.stored is not None)
                median.rounds = [round(r.rate) for r in measured[receiver.name]]
                median.scrapes = sum(r.scrapes for r in measured[receiver.name])
                results.append(median)
        return results
    finally:
        for receiver in receivers:
            receiver.stop()
