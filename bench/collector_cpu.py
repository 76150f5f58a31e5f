"""CPU per status callback on the collector's event loop, without the network.

    .venv/bin/python -m bench.collector_cpu [--events 20000] [--rounds 5] [--concurrency 64]

On a shared machine the wall rate of `bench.collector_load` says mostly what the other
processes left over, and even the server's CPU per event moves with how many callbacks each
wake-up finds (few per wake-up: each pays the loop's own overhead). This measures the
receive path alone: the collector app, served by uvicorn's httptools protocol as `serve` runs
it, in this process, on 64 keep-alive connections whose transports are in memory. Each answer
sends that connection's next signed callback, so the loop always has work, and the event
loop thread's CPU time (`time.thread_time`) per answered callback is what request parsing,
the ASGI cycle, the receiver and the writer's batching cost on the loop. The writer thread
commits to SQLite in a temporary directory (`--db-dir`, default /dev/shm: commits are not
what is measured); its CPU is reported apart. Every 2xx must have its row. The wall rate
(callbacks/s) is that of this pipeline with no network and no load generator: with `--db-dir`
on a disk, it shows how the loop's work and the commits' fsyncs overlap.

To compare two checkouts, run it alternately with each one's code first on the path
(`cd OTHER && PYTHONPATH=OTHER python THIS/bench/collector_cpu.py`): the rounds of one
process share its load, those of two processes only roughly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VARIANTS = ("collector",)  # served alike; more names would take turns chunk by chunk


class _MemoryTransport(asyncio.Transport):
    """One client connection: the answers come back here, and each sends the next request."""

    def __init__(self, client: _Client) -> None:
        super().__init__()
        self.client = client
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self.client.on_answer(bytes(data))

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 4020), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )


class _Client:
    def __init__(self, run: _Run, protocol: asyncio.Protocol) -> None:
        self.run = run
        self.protocol = protocol
        self.transport = _MemoryTransport(self)
        protocol.connection_made(self.transport)

    def send_next(self) -> None:
        request = self.run.next_request()
        if request is not None:
            self.protocol.data_received(request)

    def on_answer(self, data: bytes) -> None:
        self.run.count(data)
        self.run.loop.call_soon(self.send_next)  # as a network round trip would: later


class _Run:
    """The callbacks of one protocol, sent up to `limit` (a chunk) and counted as answered."""

    def __init__(self, loop: asyncio.AbstractEventLoop, requests: list[bytes]) -> None:
        self.loop = loop
        self.requests = requests
        self.sent = 0
        self.answered = 0
        self.limit = len(requests)
        self.answers: dict[int, int] = {}
        self.done = loop.create_future()

    def next_request(self) -> bytes | None:
        if self.sent >= self.limit:
            return None
        self.sent += 1
        return self.requests[self.sent - 1]

    def count(self, data: bytes) -> None:
        status = int(data[9:12])
        self.answers[status] = self.answers.get(status, 0) + 1
        self.answered += 1
        if self.answered == self.limit and not self.done.done():
            self.done.set_result(None)


async def _measure(
    names: Sequence[str], scratch: str, requests: list[bytes], width: int, chunk: int
) -> dict[str, tuple[float, float, float, dict[int, int], str]]:
    """Each variant's loop-thread and other-thread CPU seconds, wall seconds, answers and
    database, its
    callbacks sent in chunks of `chunk` that alternate between the variants, so a burst of
    load from elsewhere weighs on all alike."""
    import uvicorn
    from uvicorn.server import ServerState

    try:
        from bench.collector_load_receivers import _group_commit_app
    except ImportError:  # a checkout from before the load test was split into modules
        from bench.collector_load import _group_commit_app  # type: ignore[attr-defined,no-redef]

    loop = asyncio.get_running_loop()
    served = []
    async with contextlib.AsyncExitStack() as stack:
        for name in names:
            database_url = f"sqlite:///{scratch}/{name}.db"
            app = _group_commit_app(database_url)
            config = uvicorn.Config(app, http="httptools", access_log=False, proxy_headers=False)
            config.load()
            await stack.enter_async_context(app.lifespan(app.web))
            state = ServerState()
            protocols = [
                config.http_protocol_class(config, state, {}, loop)  # type: ignore[call-arg]
                for _ in range(width)
            ]
            served.append((name, database_url, protocols, [0.0, 0.0, 0.0]))
        runs = {name: _Run(loop, requests) for name, *_ in served}
        clients = {
            name: [_Client(runs[name], p) for p in protocols] for name, _, protocols, _ in served
        }
        for offset in range(0, len(requests), chunk):
            for name, _, _, cpu in served:
                run = runs[name]
                run.limit = min(offset + chunk, len(requests))
                run.done = loop.create_future()
                thread_before, process_before = time.thread_time(), time.process_time()
                wall_before = time.perf_counter()
                for client in clients[name]:
                    client.send_next()
                await run.done
                loop_cpu = time.thread_time() - thread_before
                cpu[0] += loop_cpu
                cpu[1] += time.process_time() - process_before - loop_cpu
                cpu[2] += time.perf_counter() - wall_before
        for name in clients:
            for client in clients[name]:
                client.protocol.connection_lost(None)
    return {
        name: (cpu[0], cpu[1], cpu[2], runs[name].answers, database_url)
        for name, database_url, _, cpu in served
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collector_cpu", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="callbacks per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=1000, help="callbacks per turn")
    parser.add_argument("--db-dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args(argv)

    import os

    try:
        from bench.collector_load_measure import _stored
        from bench.collector_load_shape import ACCOUNTS, TOKENS_ENV
        from bench.collector_load_traffic import signed_requests
    except ImportError:  # a checkout from before the load test was split into modules
        from bench.collector_load import (  # type: ignore[attr-defined,no-redef]
            ACCOUNTS,
            TOKENS_ENV,
            _stored,
            signed_requests,
        )
    from collector.__main__ import tune_for_serving

    os.environ[TOKENS_ENV] = __import__("json").dumps(ACCOUNTS)
    tune_for_serving()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    names = list(VARIANTS)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    print(
        f"collector CPU per callback: {args.rounds} rounds of {args.events} signed callbacks on "
        f"{args.concurrency} in-memory connections; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for round_number in range(args.rounds):
        requests = signed_requests(4020, args.events, round_number + 1)
        with tempfile.TemporaryDirectory(prefix="collector-cpu-", dir=args.db_dir) as scratch:
            measured = asyncio.run(_measure(names, scratch, requests, args.concurrency, args.chunk))
            for name, (loop_cpu, other_cpu, wall, answers, database_url) in measured.items():
                ok = answers.get(200, 0)
                stored = _stored(database_url)
                if ok != args.events or stored != ok:
                    print(f"{name}: answers {answers}, stored {stored}", file=sys.stderr)
                    return 1
                results[name].append((loop_cpu / ok * 1e6, other_cpu / ok * 1e6, ok / wall))
                print(
                    f"round {round_number} {name:<10} loop {loop_cpu / ok * 1e6:6.1f} us, "
                    f"other threads {other_cpu / ok * 1e6:5.1f} us per callback, "
                    f"{ok / wall:,.0f} callbacks/s "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    medians = {name: statistics.median(r[0] for r in rows) for name, rows in results.items()}
    for name, rows in results.items():
        print(
            f"{name:<10} median loop CPU {medians[name]:.1f} us per callback, writer thread "
            f"{statistics.median(r[1] for r in rows):.1f} us, "
            f"{statistics.median(r[2] for r in rows):,.0f} callbacks/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
