"""The collector load test's load generator: signed callbacks sent over keep-alive
connections from this process."""

from __future__ import annotations

import asyncio
import random
import time
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.collector_load_shape import ACCOUNTS, SERVICES, STATUS_PATH, STATUSES


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
