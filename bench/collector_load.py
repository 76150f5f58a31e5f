"""Collector load test: signed status callbacks per second and p99 latency, group commit vs naive.

    .venv/bin/python -m bench.collector_load [--levels 1,16,64] [--events 40000] [--seconds 8]

Each receiver runs as its own uvicorn process on 127.0.0.1 with the same durability: SQLite in
WAL mode with synchronous=FULL, and a 2xx only after the commit that holds the event. Receivers:

- `group-commit`: the collector (`collector.app`): one writer thread commits every event queued
  while the previous commit ran, and answers each request when its commit is done;
- `naive-inline`: plain Starlette, one transaction per request, committed in the handler;
- `naive-threads`: plain Starlette, one transaction per request in Starlette's thread pool (the
  usual way to call blocking code from it), so concurrent requests contend for SQLite's lock.

All three parse and check `X-Twilio-Signature` with the same code (twilio's RequestValidator,
tokens from a fixed in-memory source so Twilio itself is not measured) and store through the
same `store_events`. The load generator is an asyncio HTTP/1.1 client in this process, with one
keep-alive connection per unit of concurrency and requests signed before the clock starts; it
shares the machine's cores with the receiver, so its own CPU use is reported. Each run is bounded
by a count and a time limit, sends only to loopback, and checks that rows stored == 2xx answers.
While the collector is measured, its `/metrics` is scraped once a second, as Prometheus would
(`--no-scrape` to leave it alone); scrapes and their mean time are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

REPO_ROOT = Path(__file__).resolve().parents[1]
STATUS_PATH = "/twilio/status"
RECEIVERS = ("group-commit", "group-commit-2w", "naive-inline", "naive-threads", "http-floor")
GROUP_COMMIT = ("group-commit", "group-commit-2w")
NAIVE = ("naive-inline", "naive-threads")
TOKENS_ENV = "BENCH_COLLECTOR_TOKENS"
DATABASE_ENV = "BENCH_COLLECTOR_DATABASE"
ACCOUNTS = {f"AC{n:032x}": f"bench-token-{n:020d}" for n in range(1, 5)}
SERVICES = [f"MG{n:032x}" for n in range(1, 4)]
STATUSES = ("queued", "sending", "sent", "delivered")
_TICK = os.sysconf("SC_CLK_TCK")


# --- receivers (run in the server subprocess) ----------------------------------------------------


def _naive_app(database_url: str, threaded: bool):
    """A receiver as one would first write it: Starlette, one transaction per request."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from collector.events import MalformedCallback, account_sid_of, parse_form, status_event_from
    from collector.storage.database import create_database_engine
    from collector.storage.migrations import migrate
    from collector.storage.writes import store_events

    migrate(database_url)
    engine = create_database_engine(database_url, sqlite_begin="IMMEDIATE")
    validators = {sid: RequestValidator(token) for sid, token in _tokens().items()}

    def commit(event) -> None:
        with engine.begin() as connection:
            store_events(connection, [event])

    async def status_callback(request: Request) -> Response:
        try:
            params = parse_form(await request.body())
            validator = validators.get(account_sid_of(params))
            signature = request.headers.get("x-twilio-signature", "")
            if validator is None or not validator.validate(str(request.url), params, signature):
                return Response(status_code=403)
            event = status_event_from(params)
        except MalformedCallback:
            return Response(status_code=400)
        if threaded:
            await run_in_threadpool(commit, event)
        else:
            commit(event)
        return Response(status_code=200)

    return Starlette(routes=[Route(STATUS_PATH, status_callback, methods=["POST"])])


def _group_commit_app(database_url: str):
    from collector.app import CollectorConfig, build_app
    from collector.signatures import StaticTokenSource

    return build_app(
        CollectorConfig(database_url=database_url, token_source=StaticTokenSource(_tokens()))
    )


def _floor_app():
    """The HTTP stack alone: reads the body and answers 200, storing nothing. Not a receiver:
    the ceiling that uvicorn and this load generator allow on this machine."""

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
        )
        await send({"type": "http.response.body", "body": b""})

    return app


def group_commit_app_from_environment():
    """For `group-commit-2w`: uvicorn's worker processes import the app factory by name."""
    return _group_commit_app(os.environ[DATABASE_ENV])


def _tokens() -> dict[str, str]:
    return json.loads(os.environ[TOKENS_ENV])


def serve(receiver: str, database_url: str, port: int) -> None:
    import uvicorn

    from collector.__main__ import tune_for_serving

    tune_for_serving()  # as `python -m collector serve` does, for every receiver alike

    # The options `python -m collector serve` uses.
    options = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
    }
    if receiver == "group-commit-2w":
        os.environ[DATABASE_ENV] = database_url
        factory = "bench.collector_load:group_commit_app_from_environment"
        uvicorn.run(factory, factory=True, workers=2, **options)
        return
    if receiver == "http-floor":
        app = _floor_app()
    elif receiver == "group-commit":
        app = _group_commit_app(database_url)
    else:
        app = _naive_app(database_url, threaded=receiver == "naive-threads")
    uvicorn.run(app, **options)


# --- load generator ------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        status = int(head.split(b" ", 2)[1])
        waiter, self.waiter = self.waiter, None
        waiter.set_result(status)

    def connection_lost(self, exc) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def request(self, payload: bytes) -> int:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(payload)
        return await self.waiter


def signed_requests(port: int, count: int, tag: int) -> list[bytes]:
    """`count` distinct callbacks (unique message/status pairs), signed, as raw HTTP requests."""
    url = f"http://127.0.0.1:{port}{STATUS_PATH}"
    validators = {sid: RequestValidator(token) for sid, token in ACCOUNTS.items()}
    accounts = list(ACCOUNTS)
    # Twilio's SIDs are random: every new message lands on a random page of the indexes.
    draw = random.Random(tag)
    sids = [f"SM{draw.getrandbits(128):032x}" for _ in range(count // len(STATUSES) + 1)]
    requests = []
    for index in range(count):
        message, status = divmod(index, len(STATUSES))
        account = accounts[message % len(accounts)]
        sid = sids[message]
        params = {
            "AccountSid": account,
            "ApiVersion": "2010-04-01",
            "From": f"+1415555{message % 10000:04d}",
            "MessageSid": sid,
            "MessageStatus": STATUSES[status],
            "MessagingServiceSid": SERVICES[message % len(SERVICES)],
            "SmsSid": sid,
            "SmsStatus": STATUSES[status],
            "To": f"+1415666{message % 10000:04d}",
        }
        body = urlencode(params).encode()
        signature = validators[account].compute_signature(url, params)
        head = (
            f"POST {STATUS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\n"
            f"I-Twilio-Idempotency-Token: ID{tag:08x}{index:024x}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


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


async def drive(port: int, payloads: list[bytes], concurrency: int, seconds: float):
    """Send `payloads` over `concurrency` connections until done or `seconds` pass."""
    loop = asyncio.get_running_loop()
    connections = []
    for _ in range(concurrency):
        _, protocol = await loop.create_connection(_Connection, "127.0.0.1", port)
        connections.append(protocol)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = 0
    deadline = time.perf_counter() + seconds

    async def worker(connection: _Connection) -> None:
        nonlocal next_index
        while next_index < len(payloads) and time.perf_counter() < deadline:
            payload = payloads[next_index]
            next_index += 1
            started = time.perf_counter_ns()
            try:
                status = await connection.request(payload)
            except ConnectionError:
                status = 0
            latencies.append((time.perf_counter_ns() - started) / 1e6)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 0:
                return

    cpu_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    for connection in connections:
        assert connection.transport is not None
        connection.transport.close()
    return next_index, statuses, latencies, elapsed, cpu


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
        self.kind = name.removesuffix(BASELINE_SUFFIX)
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
        self.process = subprocess.Popen(
            [*command, self.database_url, str(self.port)], cwd=checkout, env=env
        )

    def warm_up(self) -> None:
        """Token cache, first connections, SQLite pages: not measured."""
        _wait_listening(self.port, self.process)
        asyncio.run(drive(self.port, signed_requests(self.port, 400, self.tag), 8, 10.0))

    def measure(self, concurrency: int, events: int, seconds: float) -> LevelResult:
        self.runs += 1
        payloads = signed_requests(self.port, events, self.tag + self.runs)
        writer = self.kind == "group-commit"
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


def render(results: list[LevelResult]) -> str:
    lines = [
        "median round of each receiver and level (rows: that round; loss: all rounds)",
        f"{'receiver':<15} {'conc':>4} {'events':>7} {'2xx':>7} {'stored':>7} {'loss':>4}"
        f" {'events/s':>8} {'p50 ms':>7} {'p99 ms':>8} {'loader CPU':>10} {'server CPU':>10}"
        f" {'events/commit':>13} {'commit ms':>9}  rounds (events/s)",
    ]
    for r in results:
        stored = "-" if r.stored is None else str(r.stored)
        loss = "-" if r.stored is None else str(r.lost)
        per_commit = (
            f" {r.ok / r.batches:>13.1f} {r.commit_ms:>9.2f}"
            if r.batches and r.commit_ms is not None
            else f" {'1 (each)' if r.receiver in NAIVE else '-':>13} {'-':>9}"
        )
        lines.append(
            f"{r.receiver:<15} {r.concurrency:>4} {r.sent:>7} {r.ok:>7} {stored:>7} {loss:>4}"
            f" {r.rate:>8.0f} {r.percentile(0.5):>7.2f} {r.percentile(0.99):>8.2f}"
            f" {r.loader_cpu * 100:>9.0f}% {r.server_cpu * 100:>9.0f}%"
            + per_commit
            + "  "
            + " ".join(str(rate) for rate in r.rounds)
        )
    by_key = {(r.receiver, r.concurrency): r for r in results}
    lines.append("")
    for r in results:
        base = by_key.get((r.receiver + BASELINE_SUFFIX, r.concurrency))
        if base is not None and base.rate:
            lines.append(
                f"concurrency {r.concurrency:>2}: {r.receiver} {r.rate:,.0f}/s vs the baseline "
                f"checkout's {base.rate:,.0f}/s = {r.rate / base.rate:.2f}x; rounds "
                f"{' '.join(map(str, r.rounds))} vs {' '.join(map(str, base.rounds))}; server "
                f"CPU per event {r.cpu_per_event_us:.0f} vs {base.cpu_per_event_us:.0f} us"
            )
    for concurrency in sorted({r.concurrency for r in results}):
        naive = [by_key[(n, concurrency)] for n in NAIVE if (n, concurrency) in by_key]
        if not naive:
            continue
        best = max(naive, key=lambda r: r.rate)
        for name in GROUP_COMMIT:
            group = by_key.get((name, concurrency))
            if group is None:
                continue
            ratio = group.rate / best.rate if best.rate else float("inf")
            scraped = (
                f"; /metrics scraped {group.scrapes}x over its rounds, {group.scrape_ms:.1f} ms"
                " each"
                if group.scrapes and group.scrape_ms is not None
                else ""
            )
            lines.append(
                f"concurrency {concurrency:>2}: {name} {group.rate:,.0f}/s vs best naive "
                f"({best.receiver}) {best.rate:,.0f}/s = {ratio:.1f}x; p99 "
                f"{group.percentile(0.99):.2f} ms vs {best.percentile(0.99):.2f} ms{scraped}"
            )
    return "\n".join(lines)


def _implementation() -> str:
    parts = []
    for module in ("uvloop", "httptools"):
        try:
            __import__(module)
            parts.append(f"{module}: yes")
        except ImportError:
            parts.append(f"{module}: no (uvicorn falls back to asyncio/h11)")
    return ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collector_load", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    server = commands.add_parser("serve", help="(internal) run one receiver")
    server.add_argument("receiver", choices=RECEIVERS)
    server.add_argument("database_url")
    server.add_argument("port", type=int)
    parser.add_argument("--levels", default="1,16,64", help="concurrency levels (default 1,16,64)")
    parser.add_argument("--events", type=int, default=60_000, help="at most, per run")
    parser.add_argument("--seconds", type=float, default=3.0, help="at most, per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per receiver and level")
    parser.add_argument("--receivers", default=",".join(RECEIVERS))
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="another checkout (with its .venv): adds group-commit@base, its code's collector",
    )
    parser.add_argument(
        "--no-scrape", action="store_true", help="do not scrape the collector's /metrics"
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.receiver, args.database_url, args.port)
        return 0

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    levels = [int(level) for level in args.levels.split(",")]
    receivers = [name for name in args.receivers.split(",") if name]
    if args.baseline:
        after = receivers.index("group-commit") + 1 if "group-commit" in receivers else 0
        receivers.insert(after, "group-commit" + BASELINE_SUFFIX)
    print(
        f"collector load: concurrency {levels}, {args.rounds} rounds of at most {args.events} "
        f"events and {args.seconds:g} s per receiver and level, on 127.0.0.1; {os.cpu_count()} "
        f"cores shared by loader and receivers; {_implementation()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="collector-load-") as scratch:
        results = run(
            receivers,
            Path(scratch),
            levels,
            args.events,
            args.seconds,
            args.rounds,
            scrape=not args.no_scrape,
            baseline=args.baseline.resolve() if args.baseline else None,
        )
    print(render(results))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "receiver": r.receiver,
                        "concurrency": r.concurrency,
                        "events": r.sent,
                        "ok": r.ok,
                        "stored": r.stored,
                        "events_per_s": round(r.rate, 1),
                        "p50_ms": round(r.percentile(0.5), 3),
                        "p99_ms": round(r.percentile(0.99), 3),
                        "loader_cpu": round(r.loader_cpu, 3),
                        "server_cpu": round(r.server_cpu, 3),
                        "lost": r.lost,
                        "rounds_events_per_s": r.rounds,
                        "metrics_scrapes": r.scrapes,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    lost = [r for r in results if r.lost]
    if lost:
        print(f"LOSS: rows stored != 2xx answers for {len(lost)} receiver levels", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
