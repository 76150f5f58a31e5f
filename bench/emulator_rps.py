"""Requests per second the emulator serves on loopback, measured in one run.

    .venv/bin/python bench/emulator_rps.py [--seconds 3] [--url http://127.0.0.1:4010]

Two operations with the official twilio client (one client per thread), at concurrency 1 and
16: a fetch (GET a Messaging Service) and a create (POST a Messaging Service). A last line
measures the same create with a bare asyncio HTTP client, which shows the emulator's own
ceiling: the official client's per-call CPU (requests, twilio's object building) is usually
what limits the first four numbers on a 2-core machine. Without --url it starts its own
emulator on a free port with a temporary database.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devkit.emulator_process import EmulatorProcess
from twilio_access.client import build_client
from twilio_access.dev_defaults import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN


@dataclass(frozen=True)
class Result:
    name: str
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        p50 = statistics.median(self.latencies_ms)
        p99 = (
            statistics.quantiles(self.latencies_ms, n=100)[98]
            if len(self.latencies_ms) > 1
            else p50
        )
        return (
            f"{self.name:<38} c={self.concurrency:<3} {self.requests:>6} req"
            f" in {self.seconds:5.2f}s"
            f"  {self.rps:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
        )


def run_threads(
    name: str, concurrency: int, seconds: float, make_call: Callable[[], Callable[[], object]]
) -> Result:
    """`concurrency` threads each repeating their own call until the time is up."""
    calls = [make_call() for _ in range(concurrency)]
    for call in calls:
        call()  # warm the connection pools outside the measurement
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)
    deadline = 0.0

    def worker(index: int) -> None:
        call, mine = calls[index], latencies[index]
        barrier.wait()
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return
            call()
            mine.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = [value for chunk in latencies for value in chunk]
    return Result(name, concurrency, len(flat), elapsed, flat)


async def raw_creates(url: str, concurrency: int, seconds: float) -> Result:
    """Service creates over keep-alive connections with a minimal HTTP/1.1 client."""
    host, port = url.removeprefix("http://").split(":")
    token = base64.b64encode(f"{DEV_ACCOUNT_SID}:{DEV_AUTH_TOKEN}".encode()).decode()
    body = urlencode({"FriendlyName": "bench-raw", "Usecase": "notifications"}).encode()
    request = (
        f"POST /messaging/v1/Services HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Basic {token}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 201"):
                    raise RuntimeError(head[:80])
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(
        "create service (bare asyncio client)",
        concurrency,
        len(latencies),
        time.perf_counter() - started,
        latencies,
    )


def measure(url: str, seconds: float) -> list[Result]:
    def client():
        return build_client(DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, emulator_url=url)

    service_sid = client().messaging.v1.services.create(friendly_name="bench-fetch").sid

    def fetch_call() -> Callable[[], object]:
        service = client().messaging.v1.services(service_sid)
        return service.fetch

    def create_call() -> Callable[[], object]:
        services = client().messaging.v1.services
        return lambda: services.create(friendly_name="bench-create", usecase="notifications")

    results = []
    for concurrency in (1, 16):
        results.append(
            run_threads("fetch service (official client)", concurrency, seconds, fetch_call)
        )
        results.append(
            run_threads("create service (official client)", concurrency, seconds, create_call)
        )
    results.append(asyncio.run(raw_creates(url, 16, seconds)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--url", help="an emulator already running (default: start one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as scratch:
        process = None
        url = args.url
        if url is None:
            process = EmulatorProcess(scratch).start()
            url = process.url
        try:
            before = process.stats()["total"] if process else None
            results = measure(url, args.seconds)
            print(f"Twilio emulator at {url}, {args.seconds:g}s per measurement, one run:")
            for result in results:
                print("  " + result.line())
            if process is not None:
                served = process.stats()["total"] - before
                # One setup create, one warm-up call per client thread (1+1+16+16), then the runs.
                issued = 1 + 34 + sum(r.requests for r in results)
                print(
                    f"  the emulator's stats counted {served} Twilio requests for {issued} issued"
                )
        finally:
            if process is not None:
                process.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
