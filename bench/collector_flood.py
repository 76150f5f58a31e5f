"""Forged-callback flood against the real collector: what it costs the parent account.

    .venv/bin/python -m bench.collector_flood [--forged 100000] [--legit-rate 200]

Starts the emulator (as Twilio) and `python -m collector serve` holding only the parent's
emulator credentials, with one subaccount in the estate. Then, in one run, `--rounds` times:

1. baseline: signed callbacks of that subaccount at a steady rate, alone;
2. flood: the same steady callbacks while a share of the `--forged` requests (random
   `AccountSid`s, random signatures) arrive as fast as `--flood-concurrency` connections
   allow, sent by a process of their own (the steady sender's clock is not held up by it).

Alternating the phases spreads the shared machine's load swings over both; the latencies of
each phase are pooled over the rounds.

Reported: Twilio requests the collector made during the flood (the emulator's counts, and its
404s: any read of a random SID would be one), the collector's RSS before and after, every
legitimate callback answered 200 and stored once, and their p50/p99 in each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.collector_load_measure import _free_port
from bench.collector_load_shape import STATUS_PATH
from bench.collector_load_traffic import _Connection
from devkit.emulator_process import EmulatorProcess

REPO_ROOT = Path(__file__).resolve().parents[1]


def _callback(account: str, message: str, status: str) -> dict[str, str]:
    return {
        "AccountSid": account,
        "ApiVersion": "2010-04-01",
        "From": "+14155550100",
        "MessageSid": message,
        "MessageStatus": status,
        "SmsSid": message,
        "SmsStatus": status,
        "To": "+14155550199",
    }


def _request(port: int, params: dict[str, str], signature: str) -> bytes:
    body = urlencode(params).encode()
    head = (
        f"POST {STATUS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Phase:
    latencies_ms: list[float]
    statuses: dict[int, int]
    seconds: float

    def add(self, other: Phase) -> None:
        self.latencies_ms += other.latencies_ms
        self.seconds += other.seconds
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.5) - 1))]


class LegitTraffic:
    """Signed callbacks of one account, `rate` per second over `connections` connections."""

    def __init__(self, port: int, account: str, token: str, seed: int) -> None:
        self.port = port
        self.account = account
        self.validator = RequestValidator(token)
        self.url = f"http://127.0.0.1:{port}{STATUS_PATH}"
        self.draw = random.Random(seed)
        self.sent_sids: list[str] = []

    def next_request(self) -> bytes:
        sid = f"SM{self.draw.getrandbits(128):032x}"
        self.sent_sids.append(sid)
        params = _callback(self.account, sid, "delivered")
        return _request(self.port, params, self.validator.compute_signature(self.url, params))

    async def run(self, rate: float, connections: int, until: asyncio.Event) -> Phase:
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        interval = connections / rate
        started = time.perf_counter()

        async def one(offset: float) -> None:
            _, connection = await loop.create_connection(_Connection, "127.0.0.1", self.port)
            due = time.perf_counter() + offset
            while not until.is_set():
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due += interval
                payload = self.next_request()
                sent = time.perf_counter_ns()
                status = await connection.request(payload)
                latencies.append((time.perf_counter_ns() - sent) / 1e6)
                statuses[status] = statuses.get(status, 0) + 1
            assert connection.transport is not None
            connection.transport.close()

        await asyncio.gather(*(one(i * interval / connections) for i in range(connections)))
        return Phase(latencies, statuses, time.perf_counter() - started)


async def forged_flood(port: int, total: int, concurrency: int) -> tuple[dict[int, int], float]:
    """`total` callbacks naming random accounts, with random signatures."""
    loop = asyncio.get_running_loop()
    statuses: dict[int, int] = {}
    remaining = total
    started = time.perf_counter()

    async def one() -> None:
        nonlocal remaining
        _, connection = await loop.create_connection(_Connection, "127.0.0.1", port)
        while remaining > 0:
            remaining -= 1
            params = _callback(f"AC{os.urandom(16).hex()}", f"SM{os.urandom(16).hex()}", "sent")
            signature = os.urandom(20).hex()
            status = await connection.request(_request(port, params, signature))
            statuses[status] = statuses.get(status, 0) + 1
        assert connection.transport is not None
        connection.transport.close()

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return statuses, time.perf_counter() - started


def _flood_process(port: int, total: int, concurrency: int, results) -> None:
    results.put(asyncio.run(forged_flood(port, total, concurrency)))


async def flood_elsewhere(port: int, total: int, concurrency: int) -> tuple[dict[int, int], float]:
    """`forged_flood` in a separate process, awaited without blocking this loop."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(
        target=_flood_process, args=(port, total, concurrency, results), daemon=True
    )
    process.start()
    try:
        return await asyncio.to_thread(results.get, True, 3600)
    finally:
        await asyncio.to_thread(process.join, 60)


@dataclass
class FloodResult:
    forged: int
    forged_statuses: dict[int, int]
    flood_seconds: float
    twilio_requests_during_flood: int
    twilio_404s_during_flood: int
    collector_token_reads_during_flood: int
    collector_account_lists_during_flood: int
    rss_before: int
    rss_after: int
    baseline: Phase
    flooded: Phase
    legit_sent: int
    legit_stored: int

    @property
    def rss_growth_mib(self) -> float:
        return (self.rss_after - self.rss_before) / 2**20

    @property
    def p99_ratio(self) -> float:
        return self.flooded.percentile(0.99) / self.baseline.percentile(0.99)

    def render(self) -> str:
        base, flood = self.baseline, self.flooded
        return "\n".join(
            [
                f"forged requests: {self.forged:,} in {self.flood_seconds:.1f} s "
                f"({self.forged / self.flood_seconds:,.0f}/s), answers {self.forged_statuses}",
                f"Twilio requests during the flood: {self.twilio_requests_during_flood} "
                f"(404s: {self.twilio_404s_during_flood}); collector token reads: "
                f"{self.collector_token_reads_during_flood}, account lists: "
                f"{self.collector_account_lists_during_flood}",
                f"collector RSS: {self.rss_before / 2**20:.1f} MiB before, "
                f"{self.rss_after / 2**20:.1f} MiB after ({self.rss_growth_mib:+.1f} MiB)",
                f"legitimate callbacks: {self.legit_sent} sent, {self.legit_stored} stored; "
                f"baseline {len(base.latencies_ms)} answers {base.statuses} p50 "
                f"{base.percentile(0.5):.2f} ms p99 {base.percentile(0.99):.2f} ms; during the "
                f"flood {len(flood.latencies_ms)} answers {flood.statuses} p50 "
                f"{flood.percentile(0.5):.2f} ms p99 {flood.percentile(0.99):.2f} ms; "
                f"p99 ratio {self.p99_ratio:.2f}",
            ]
        )


def _stored(database_url: str, sids: list[str]) -> int:
    from sqlalchemy import func, select

    from collector.storage.database import create_database_engine
    from collector.storage.schema import status_events

    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).where(status_events.c.message_sid.in_(sids))
            return connection.execute(query).scalar_one()
    finally:
        engine.dispose()


def _twilio_counts(emulator: EmulatorProcess) -> tuple[int, int]:
    stats = emulator.stats()
    routes = stats["routes"]
    requests = sum(n for route, n in routes.items() if not route.startswith("GET /_emulator"))
    return requests, stats.get("statuses", {}).get("404", 0)


def run_flood(
    workdir: Path,
    *,
    forged: int = 100_000,
    legit_rate: float = 200.0,
    legit_connections: int = 4,
    flood_concurrency: int = 32,
    baseline_seconds: float = 8.0,
    rounds: int = 3,
) -> FloodResult:
    import httpx

    from devkit.collector_process import collector_environment, collector_process

    with EmulatorProcess(workdir / "emulator") as emulator:
        account = emulator.client().api.v2010.accounts.create(friendly_name="flood target")
        database_url = f"sqlite:///{workdir / 'collector.db'}"
        env = collector_environment(emulator.url)
        port = _free_port()
        with collector_process(database_url, env, workdir, ("--no-usage",), port=port) as running:
            legit = LegitTraffic(port, account.sid, account.auth_token, seed=22)

            async def phases() -> tuple[Phase, Phase, dict[int, int], float, dict]:
                loop = asyncio.get_running_loop()
                baseline, flooded = Phase([], {}, 0.0), Phase([], {}, 0.0)
                statuses: dict[int, int] = {}
                seconds = 0.0
                before: dict = {}
                for round_index in range(rounds):
                    stop = asyncio.Event()
                    loop.call_later(baseline_seconds, stop.set)
                    baseline.add(await legit.run(legit_rate, legit_connections, stop))
                    if round_index == 0:
                        before = {
                            "rss": rss_bytes(running.process.pid),
                            "twilio": _twilio_counts(emulator),
                            "estate": running.health()["estate"],
                        }
                    share = forged // rounds + (forged % rounds if round_index == 0 else 0)
                    stop = asyncio.Event()
                    during = asyncio.ensure_future(legit.run(legit_rate, legit_connections, stop))
                    answers, elapsed = await flood_elsewhere(port, share, flood_concurrency)
                    stop.set()
                    flooded.add(await during)
                    seconds += elapsed
                    for status, count in answers.items():
                        statuses[status] = statuses.get(status, 0) + count
                return baseline, flooded, statuses, seconds, before

            baseline, flooded, statuses, seconds, before = asyncio.run(phases())
            after_twilio = _twilio_counts(emulator)
            after_estate = httpx.get(running.base_url + "/healthz", timeout=10).json()["estate"]
            rss_after = rss_bytes(running.process.pid)
            stored = _stored(database_url, legit.sent_sids)
    return FloodResult(
        forged=forged,
        forged_statuses=statuses,
        flood_seconds=seconds,
        twilio_requests_during_flood=after_twilio[0] - before["twilio"][0],
        twilio_404s_during_flood=after_twilio[1] - before["twilio"][1],
        collector_token_reads_during_flood=after_estate["token_reads"]
        - before["estate"]["token_reads"],
        collector_account_lists_during_flood=after_estate["account_lists"]
        - before["estate"]["account_lists"],
        rss_before=before["rss"],
        rss_after=rss_after,
        baseline=baseline,
        flooded=flooded,
        legit_sent=len(legit.sent_sids),
        legit_stored=stored,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collector_flood", description=__doc__)
    parser.add_argument("--forged", type=int, default=100_000)
    parser.add_argument("--legit-rate", type=float, default=200.0, help="per second")
    parser.add_argument("--flood-concurrency", type=int, default=32)
    parser.add_argument("--baseline-seconds", type=float, default=4.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="collector-flood-") as scratch:
        result = run_flood(
            Path(scratch),
            forged=args.forged,
            legit_rate=args.legit_rate,
            flood_concurrency=args.flood_concurrency,
            baseline_seconds=args.baseline_seconds,
            rounds=args.rounds,
        )
    print(result.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
