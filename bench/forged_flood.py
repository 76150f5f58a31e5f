"""The flood bench's forger: callbacks naming random accounts, with random signatures, sent
as fast as a few connections allow from an address of its own, in a process of its own
(`flood_elsewhere`). It goes on whatever it meets: a refused request or a connection reset
before its answer makes it reconnect, and every attempt is counted, answered or cut off."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from bench.collector_load_shape import STATUS_PATH
from bench.collector_load_traffic import _Connection


def callback_params(account: str, message: str, status: str) -> dict[str, str]:
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


def raw_request(port: int, params: dict[str, str], signature: str) -> bytes:
    body = urlencode(params).encode()
    head = (
        f"POST {STATUS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class FloodOutcome:
    """What `total` forged attempts met: answers by status, and connections cut off."""

    answers: dict[int, int]
    cut_off: int
    seconds: float
    cpu_seconds: float  # the flooding process's own CPU (user + system)

    @property
    def attempts(self) -> int:
        return sum(self.answers.values()) + self.cut_off

    def add(self, other: FloodOutcome) -> None:
        for status, count in other.answers.items():
            self.answers[status] = self.answers.get(status, 0) + count
        self.cut_off += other.cut_off
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds


class _FloodConnection(_Connection):
    """A keep-alive connection that notes whether the answer closed it."""

    def data_received(self, data: bytes) -> None:
        if self.waiter is not None and b"\r\n\r\n" in self.buffer + data:
            head = (self.buffer + data).split(b"\r\n\r\n", 1)[0].lower()
            self.closing = b"\r\nconnection: close" in head
        super().data_received(data)

    closing = False


async def forged_flood(port: int, total: int, concurrency: int, source: str) -> FloodOutcome:
    """`total` attempts at callbacks naming random accounts, with random signatures, from
    `source`. A connection that is refused, reset or closed is replaced by a new one."""
    loop = asyncio.get_running_loop()
    answers: dict[int, int] = {}
    cut_off = 0
    remaining = total
    started = time.perf_counter()
    cpu_started = _own_cpu_seconds()

    async def one() -> None:
        nonlocal remaining, cut_off
        connection: _FloodConnection | None = None
        while remaining > 0:
            remaining -= 1
            account, message = f"AC{os.urandom(16).hex()}", f"SM{os.urandom(16).hex()}"
            params = callback_params(account, message, "sent")
            payload = raw_request(port, params, os.urandom(20).hex())
            try:
                if connection is None:
                    _, connection = await loop.create_connection(
                        _FloodConnection, "127.0.0.1", port, local_addr=(source, 0)
                    )
                assert connection.transport is not None
                if connection.transport.is_closing():
                    raise ConnectionResetError("closed by the collector")
                status = await connection.request(payload)
            except OSError:  # refused at connect, reset before the answer
                cut_off += 1
                if connection is not None and connection.transport is not None:
                    connection.transport.abort()
                connection = None
                continue
            answers[status] = answers.get(status, 0) + 1
            if connection.closing:
                assert connection.transport is not None
                connection.transport.close()
                connection = None
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return FloodOutcome(
        answers, cut_off, time.perf_counter() - started, _own_cpu_seconds() - cpu_started
    )


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _flood_process(port: int, total: int, concurrency: int, source: str, results) -> None:
    # uvloop, as the collector: a forger has fast tools, and a slow flooder would flatter us.
    import uvloop

    results.put(uvloop.run(forged_flood(port, total, concurrency, source)))


async def flood_elsewhere(port: int, total: int, concurrency: int, source: str) -> FloodOutcome:
    """`forged_flood` in a separate process, awaited without blocking this loop."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(
        target=_flood_process, args=(port, total, concurrency, source, results), daemon=True
    )
    process.start()
    try:
        return await asyncio.to_thread(results.get, True, 3600)
    finally:
        await asyncio.to_thread(process.join, 60)
