"""CPU per status callback on the collector's event loop, without the network or the load.

    .venv/bin/python -m bench.collector_cpu [--events 20000] [--rounds 5] [--concurrency 64]

On a shared machine the wall rate of `bench.collector_load` says mostly what the other
processes left over, and even the server's CPU per event moves with how many callbacks each
wake-up finds. This measures the receive path alone: the collector app, served by uvicorn's
httptools protocol and by the collector's own (`collector.http_protocol`), in this process,
on 64 keep-alive connections whose transports are in memory. Each answer sends that
connection's next signed callback, so the loop always has work, and the event loop thread's
CPU time (`time.thread_time`) per answered callback is what the request parsing, the
receiver and the writer's batching cost on the loop. The writer thread commits to SQLite in a
temporary directory (`--db-dir`, default /dev/shm: commits are not what is measured); its CPU
is reported apart. The two protocols take turns, round by round, so load from elsewhere
weighs on both alike. Every 2xx must have its row (checked at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROTOCOLS = ("httptools", "collector")


class _MemoryTransport(asyncio.Transport):
    """One client connection: the answers come back here, and each sends the next request."""

    def __init__(self, client: _Client) -> None:
        super().__init__()
        self.client = client
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self.client.answered(bytes(data))

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

    def answered(self, data: bytes) -> None:
        self.run.count(data)
        self.run.loop.call_soon(self.send_next)  # as a network round trip would: later


class _Run:
    def __init__(self, loop: asyncio.AbstractEventLoop, requests: list[bytes]) -> None:
        self.loop = loop
        self.requests = requests
        self.sent = 0
        self.answers: dict[int, int] = {}
        self.done = loop.create_future()

    def next_request(self) -> bytes | None:
        if self.sent == len(self.requests):
            return None
        self.sent += 1
        return self.requests[self.sent - 1]

    def count(self, data: bytes) -> None:
        status = int(data[9:12])
        self.answers[status] = self.answers.get(status, 0) + 1
        if sum(self.answers.values()) == len(self.requests) and not self.done.done():
            self.done.set_result(None)


async def _measure(protocol_name: str, database_url: str, requests: list[bytes], width: int):
    """Loop-thread and other-thread CPU seconds and the answers, for one round."""
    import uvicorn
    from uvicorn.server import ServerState

    from bench.collector_load import _group_commit_app

    app = _group_commit_app(database_url)
    http: Any = "httptools"
    if protocol_name == "collector":
        from collector.http_protocol import CollectorHttpProtocol

        http = CollectorHttpProtocol
    config = uvicorn.Config(app, http=http, access_log=False, proxy_headers=False)
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    async with app.lifespan(app.web):
        run = _Run(loop, requests)
        clients = [
            _Client(run, config.http_protocol_class(config, state, {}, loop))  # type: ignore[call-arg]
            for _ in range(width)
        ]
        thread_before, process_before = time.thread_time(), time.process_time()
        for client in clients:
            client.send_next()
        await run.done
        loop_cpu = time.thread_time() - thread_before
        other_cpu = time.process_time() - process_before - loop_cpu
        for client in clients:
            client.protocol.connection_lost(None)
    return loop_cpu, other_cpu, run.answers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collector_cpu", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="callbacks per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--db-dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args(argv)

    import os

    from bench.collector_load import ACCOUNTS, TOKENS_ENV, _stored, signed_requests
    from collector.__main__ import tune_for_serving

    os.environ[TOKENS_ENV] = __import__("json").dumps(ACCOUNTS)
    tune_for_serving()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    names = [name for name in args.protocols.split(",") if name]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    print(
        f"collector CPU per callback: {args.rounds} rounds of {args.events} signed callbacks on "
        f"{args.concurrency} in-memory connections; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="collector-cpu-", dir=args.db_dir) as scratch:
        for round_number in range(args.rounds):
            for index, name in enumerate(names):
                database_url = f"sqlite:///{scratch}/{name}-{round_number}.db"
                requests = signed_requests(4020, args.events, (round_number << 8) + index)
                loop_cpu, other_cpu, answers = asyncio.run(
                    _measure(name, database_url, requests, args.concurrency)
                )
                ok = answers.get(200, 0)
                stored = _stored(database_url)
                if ok != args.events or stored != ok:
                    print(f"{name}: answers {answers}, stored {stored}", file=sys.stderr)
                    return 1
                results[name].append((loop_cpu / ok * 1e6, other_cpu / ok * 1e6))
                print(
                    f"round {round_number} {name:<10} loop {loop_cpu / ok * 1e6:6.1f} us, "
                    f"other threads {other_cpu / ok * 1e6:5.1f} us per callback "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    medians = {name: statistics.median(r[0] for r in rows) for name, rows in results.items()}
    for name, rows in results.items():
        print(
            f"{name:<10} median loop CPU {medians[name]:.1f} us per callback, writer thread "
            f"{statistics.median(r[1] for r in rows):.1f} us"
        )
    if len(medians) == 2:
        first, second = names
        print(f"{second} / {first}: {medians[second] / medians[first]:.2f}x loop CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
