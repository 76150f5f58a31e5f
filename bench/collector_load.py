"""Collector load test: signed status callbacks per second and p99 latency, group commit vs naive.

    .venv/bin/python -m bench.collector_load [--levels 1,16,64] [--events 40000] [--seconds 8]
                                             [--workers 1,2] [--receivers group-commit,...]

Each receiver runs as its own uvicorn process on 127.0.0.1 with the same durability: SQLite in
WAL mode with synchronous=FULL, and a 2xx only after the commit that holds the event. Receivers:

- `group-commit`: the collector (`collector.app`): one writer thread commits every event queued
  while the previous commit ran, and answers each request when its commit is done;
- `naive-inline`: plain Starlette, one transaction per request, committed in the handler;
- `naive-threads`: plain Starlette, one transaction per request in Starlette's thread pool (the
  usual way to call blocking code from it), so concurrent requests contend for SQLite's lock.

Each receiver is measured served by one process (`group-commit-1w`, ...) and by as many worker
processes as the machine has cores (`--workers`, `group-commit-2w`, ...): the
collector then runs as `python -m collector serve` runs it (`collector.workers.run_workers`,
metrics shared across workers), the naive receivers with uvicorn's own `workers=N`, so each
ratio compares receivers with as many processes.

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
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.collector_load_measure import BASELINE_SUFFIX, run
from bench.collector_load_receivers import serve
from bench.collector_load_report import render
from bench.collector_load_shape import RECEIVERS, receiver_name
from collector.workers import default_workers


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
    server.add_argument("--workers", type=int, default=1)
    parser.add_argument("--levels", default="1,16,64", help="concurrency levels (default 1,16,64)")
    parser.add_argument("--events", type=int, default=60_000, help="at most, per run")
    parser.add_argument("--seconds", type=float, default=3.0, help="at most, per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per receiver and level")
    parser.add_argument(
        "--receivers",
        default=",".join(RECEIVERS),
        help=f"of {', '.join(RECEIVERS)}; each is measured at every --workers count",
    )
    parser.add_argument(
        "--workers",
        default=f"1,{default_workers()}" if default_workers() > 1 else "1",
        metavar="COUNTS",
        help="worker processes per receiver, comma-separated (default: 1 and one per core, "
        f"{default_workers()} here); each receiver is served by "
        "uvicorn's workers at each count, so the collector and the naive receivers compare "
        "with as many processes",
    )
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
        serve(args.receiver, args.database_url, args.port, args.workers)
        return 0

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    levels = [int(level) for level in args.levels.split(",")]
    counts = [int(count) for count in args.workers.split(",")]
    if any(count < 1 for count in counts):
        parser.error("--workers: counts of at least 1")
    kinds = [name for name in args.receivers.split(",") if name]
    unknown = sorted(set(kinds) - set(RECEIVERS))
    if unknown:
        parser.error(f"--receivers: no receiver {', '.join(unknown)} (of {', '.join(RECEIVERS)})")
    receivers = [receiver_name(kind, count) for count in counts for kind in kinds]
    if args.baseline:
        first = receiver_name("group-commit", 1)
        after = receivers.index(first) + 1 if first in receivers else 0
        receivers.insert(after, "group-commit" + BASELINE_SUFFIX)
    print(
        f"collector load: concurrency {levels}, {args.rounds} rounds of at most {args.events} "
        f"events and {args.seconds:g} s per receiver and level, on 127.0.0.1; {os.cpu_count()} "
        f"cores shared by loader and receivers; worker processes {counts}; load average "
        f"{os.getloadavg()[0]:.1f} at the start; {_implementation()}",
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
    print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)
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
