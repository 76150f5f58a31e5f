"""Forged-callback flood against the real collector: what it costs the parent account.

    .venv/bin/python -m bench.collector_flood [--forged 100000] [--legit-rate 200]

Starts the emulator (as Twilio) and `python -m collector serve` holding only the parent's
emulator credentials, with one subaccount in the estate. Then, in one run, `--rounds` times:

1. baseline: signed callbacks of that subaccount at a steady rate, alone, from 127.0.0.1;
2. flood: the same steady callbacks while a share of the `--forged` attempts (random
   `AccountSid`s, random signatures) go as fast as `--flood-concurrency` connections allow,
   from a process of its own (the steady sender's clock is not held up by it) and from an
   address of its own (`--flood-from`, default 127.0.0.2: Linux routes all of 127/8 to the
   loopback), as a forger is not Twilio. A refused request or a connection reset before its
   answer (the collector's refusal budget) makes the flooder reconnect and go on: every
   attempt is either answered (counted by status) or cut off (counted apart).

Alternating the phases spreads the shared machine's load swings over both; the latencies of
each phase are pooled over the rounds.

Reported: the load average; forged attempts per second, how many reached the HTTP layer and how
many were cut off; Twilio requests the collector made during the flood (the emulator's counts,
and its 404s: any read of a random SID would be one); the collector's RSS before and after;
the CPU the collector and the flooder used during the flood; every legitimate callback
answered 200 and stored once, and their p50/p99 in each phase and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from twilio.request_validator import RequestValidator

from bench.collector_load_measure import _free_port
from bench.collector_load_shape import STATUS_PATH
from bench.collector_load_traffic import _Connection
from bench.forged_flood import FloodOutcome, callback_params, flood_elsewhere, raw_request
from bench.reset_sink import reset_sink
from devkit.emulator_process import EmulatorProcess

REPO_ROOT = Path(__file__).resolve().parents[1]


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
        params = callback_params(self.account, sid, "delivered")
        return raw_request(self.port, params, self.validator.compute_signature(self.url, params))

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


def _process_cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process `pid`, all its threads."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks  # utime, stime


@dataclass
class FloodResult:
    forged: FloodOutcome
    flood_from: str
    twilio_requests_during_flood: int
    twilio_404s_during_flood: int
    collector_token_reads_during_flood: int
    collector_account_lists_during_flood: int
    collector_cut_off_during_flood: int  # as the collector counted them (/healthz)
    collector_cpu_seconds_during_flood: list[float]  # user, system
    collector_cpu_seconds_in_baseline: float  # user + system, the legitimate traffic alone
    rss_before: int
    rss_after: int
    baseline: Phase
    flooded: Phase
    legit_sent: int
    legit_stored: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    # `--control`: legitimate callbacks while the same flood went to a sink, not the collector.
    control: tuple[Phase, FloodOutcome] | None = None

    @property
    def rss_growth_mib(self) -> float:
        return (self.rss_after - self.rss_before) / 2**20

    @property
    def p99_ratio(self) -> float:
        return self.flooded.percentile(0.99) / self.baseline.percentile(0.99)

    @property
    def flood_cpu_per_attempt_us(self) -> float:
        """The collector's CPU during the flood beyond what the legitimate callbacks answered
        in it took (at the baseline's CPU per callback), per forged attempt."""
        per_callback = self.collector_cpu_seconds_in_baseline / len(self.baseline.latencies_ms)
        legit = per_callback * len(self.flooded.latencies_ms)
        extra = sum(self.collector_cpu_seconds_during_flood) - legit
        return extra / self.forged.attempts * 1e6

    @property
    def reached_http(self) -> int:
        """Forged attempts that got an HTTP answer: they cost the collector a request cycle."""
        return sum(self.forged.answers.values())

    def render(self) -> str:
        base, flood, forged = self.baseline, self.flooded, self.forged
        collector_cpu = self.collector_cpu_seconds_during_flood
        load = " / ".join(
            " ".join(f"{value:.2f}" for value in loads)
            for loads in (self.load_before, self.load_after)
        )
        return "\n".join(
            [
                f"load average (1, 5, 15 min) at start / end: {load} ({os.cpu_count()} cores)",
                f"forged attempts: {forged.attempts:,} from {self.flood_from} in "
                f"{forged.seconds:.1f} s ({forged.attempts / forged.seconds:,.0f}/s); reached "
                f"the HTTP layer: {self.reached_http:,} (answers {forged.answers}); cut off "
                f"unread: {forged.cut_off:,} (the collector counted "
                f"{self.collector_cut_off_during_flood:,})",
                f"CPU during the flood: collector {sum(collector_cpu):.1f} s "
                f"({sum(collector_cpu) / forged.seconds:.0%} of a core, "
                f"{self.collector_cpu_seconds_in_baseline / base.seconds:.0%} in the baseline; "
                f"user {collector_cpu[0]:.1f} s, system {collector_cpu[1]:.1f} s; the flood's "
                f"share {self.flood_cpu_per_attempt_us:.0f} us per attempt), "
                f"flooder {forged.cpu_seconds:.1f} s "
                f"({forged.cpu_seconds / forged.seconds:.0%} of a core)",
                f"Twilio requests during the flood: {self.twilio_requests_during_flood} "
                f"(404s: {self.twilio_404s_during_flood}); collector token reads: "
                f"{self.collector_token_reads_during_flood}, account lists: "
                f"{self.collector_account_lists_during_flood}",
                f"collector RSS: {self.rss_before / 2**20:.1f} MiB before, "
                f"{self.rss_after / 2**20:.1f} MiB after ({self.rss_growth_mib:+.1f} MiB)",
                f"legitimate callbacks from 127.0.0.1: {self.legit_sent} sent, "
                f"{self.legit_stored} stored",
                f"  without the flood: {len(base.latencies_ms)} answers {base.statuses} in "
                f"{base.seconds:.1f} s, p50 {base.percentile(0.5):.2f} ms, "
                f"p99 {base.percentile(0.99):.2f} ms",
                f"  during the flood:  {len(flood.latencies_ms)} answers {flood.statuses} in "
                f"{flood.seconds:.1f} s, p50 {flood.percentile(0.5):.2f} ms, "
                f"p99 {flood.percentile(0.99):.2f} ms",
                f"  p99 ratio (during / without): {self.p99_ratio:.2f}",
                *self._control_lines(),
            ]
        )

    def _control_lines(self) -> list[str]:
        if self.control is None:
            return []
        control, flood = self.control
        ratio = control.percentile(0.99) / self.baseline.percentile(0.99)
        return [
            f"  control, the same flood sent to a sink that resets every connection (the "
            f"machine's contention alone; {flood.attempts / flood.seconds:,.0f} attempts/s, "
            f"flooder {flood.cpu_seconds / flood.seconds:.0%} of a core): "
            f"{len(control.latencies_ms)} answers "
            f"{control.statuses}, p50 {control.percentile(0.5):.2f} ms, "
            f"p99 {control.percentile(0.99):.2f} ms, p99 ratio {ratio:.2f}",
        ]


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


def _cut_off(health: dict) -> int:
    # A collector without a refusal budget (an older checkout, side by side) cuts nothing off.
    return health.get("refusal_budget", {}).get("connections_cut_off", 0)


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
    flood_from: str = "127.0.0.2",
    baseline_seconds: float = 8.0,
    rounds: int = 3,
    collector_args: tuple[str, ...] = (),
    control: bool = False,
) -> FloodResult:
    import httpx

    from devkit.collector_process import collector_environment, collector_process

    load_before = os.getloadavg()
    with EmulatorProcess(workdir / "emulator") as emulator:
        account = emulator.client().api.v2010.accounts.create(friendly_name="flood target")
        database_url = f"sqlite:///{workdir / 'collector.db'}"
        env = collector_environment(emulator.url)
        port = _free_port()
        # One worker process: the refusal budget, /healthz's counts and the RSS measured here
        # are per process (with `--workers N` a forger's budget is at most N times larger).
        args = ("--no-usage", *collector_args)
        with (
            collector_process(database_url, env, workdir, args, port=port, workers=1) as running,
            reset_sink() if control else contextlib.nullcontext(0) as sink_port,
        ):
            pid = running.process.pid
            legit = LegitTraffic(port, account.sid, account.auth_token, seed=22)

            async def phases() -> tuple[Phase, Phase, FloodOutcome, list[float], dict]:
                loop = asyncio.get_running_loop()
                baseline, flooded = Phase([], {}, 0.0), Phase([], {}, 0.0)
                outcome = FloodOutcome({}, 0, 0.0, 0.0)
                elsewhere = Phase([], {}, 0.0)
                control_flood = FloodOutcome({}, 0, 0.0, 0.0)
                collector_cpu = [0.0, 0.0]
                baseline_cpu = 0.0
                before: dict = {}
                for round_index in range(rounds):
                    stop = asyncio.Event()
                    loop.call_later(baseline_seconds, stop.set)
                    cpu_at_start = _process_cpu_seconds(pid)
                    baseline.add(await legit.run(legit_rate, legit_connections, stop))
                    baseline_cpu += sum(_process_cpu_seconds(pid)) - sum(cpu_at_start)
                    if round_index == 0:
                        before = {
                            "rss": rss_bytes(pid),
                            "twilio": _twilio_counts(emulator),
                            "health": running.health(),
                        }
                    share = forged // rounds + (forged % rounds if round_index == 0 else 0)
                    stop = asyncio.Event()
                    during = asyncio.ensure_future(legit.run(legit_rate, legit_connections, stop))
                    cpu_at_start = _process_cpu_seconds(pid)
                    outcome.add(await flood_elsewhere(port, share, flood_concurrency, flood_from))
                    cpu_at_end = _process_cpu_seconds(pid)
                    collector_cpu[0] += cpu_at_end[0] - cpu_at_start[0]
                    collector_cpu[1] += cpu_at_end[1] - cpu_at_start[1]
                    stop.set()
                    flooded.add(await during)
                    if control:  # the same flood at the sink: the machine's contention alone
                        stop = asyncio.Event()
                        during = asyncio.ensure_future(
                            legit.run(legit_rate, legit_connections, stop)
                        )
                        control_flood.add(
                            await flood_elsewhere(sink_port, share, flood_concurrency, flood_from)
                        )
                        stop.set()
                        elsewhere.add(await during)
                before["control"] = (elsewhere, control_flood) if control else None
                before["baseline_cpu"] = baseline_cpu
                return baseline, flooded, outcome, collector_cpu, before

            baseline, flooded, outcome, collector_cpu, before = asyncio.run(phases())
            after_twilio = _twilio_counts(emulator)
            after = httpx.get(running.base_url + "/healthz", timeout=10).json()
            rss_after = rss_bytes(pid)
            stored = _stored(database_url, legit.sent_sids)
    estate_before, estate_after = before["health"]["estate"], after["estate"]
    return FloodResult(
        forged=outcome,
        flood_from=flood_from,
        twilio_requests_during_flood=after_twilio[0] - before["twilio"][0],
        twilio_404s_during_flood=after_twilio[1] - before["twilio"][1],
        collector_token_reads_during_flood=estate_after["token_reads"]
        - estate_before["token_reads"],
        collector_account_lists_during_flood=estate_after["account_lists"]
        - estate_before["account_lists"],
        collector_cut_off_during_flood=_cut_off(after) - _cut_off(before["health"]),
        collector_cpu_seconds_during_flood=collector_cpu,
        collector_cpu_seconds_in_baseline=before["baseline_cpu"],
        rss_before=before["rss"],
        rss_after=rss_after,
        baseline=baseline,
        flooded=flooded,
        legit_sent=len(legit.sent_sids),
        legit_stored=stored,
        load_before=load_before,
        load_after=os.getloadavg(),
        control=before["control"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.collector_flood",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--forged", type=int, default=100_000, help="forged attempts in all")
    parser.add_argument("--legit-rate", type=float, default=200.0, help="per second")
    parser.add_argument("--flood-concurrency", type=int, default=32)
    parser.add_argument(
        "--flood-from", default="127.0.0.2", help="the flooder's source address (127/8)"
    )
    parser.add_argument("--baseline-seconds", type=float, default=4.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--collector-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="passed to `collector serve`, e.g. --collector-arg=--refusals-per-second=0 "
        "(no refusal budget: the collector as it was before)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="after each flood phase, send the same flood to a sink that resets every "
        "connection while the callbacks go on: what the flood's CPU alone costs them",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="collector-flood-") as scratch:
        result = run_flood(
            Path(scratch),
            forged=args.forged,
            legit_rate=args.legit_rate,
            flood_concurrency=args.flood_concurrency,
            flood_from=args.flood_from,
            baseline_seconds=args.baseline_seconds,
            rounds=args.rounds,
            collector_args=tuple(args.collector_arg),
            control=args.control,
        )
    print(result.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
