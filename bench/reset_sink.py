"""A server that resets every connection as it is accepted, in a process of its own: the flood
bench's control target (`python -m bench.collector_flood --control`).

Flooding it instead of the collector costs the machine what the flood costs (the flooder's CPU,
the kernel's connection work, an accept and a reset per attempt) while the collector sees none
of it: the legitimate callbacks' latency in that phase is what the machine's contention alone
does to them."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import struct
from collections.abc import Iterator

_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class _ResetAtOnce(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        transport.abort()  # type: ignore[attr-defined]


async def _serve(ports, stop) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_ResetAtOnce, "127.0.0.1", 0)
    ports.put(server.sockets[0].getsockname()[1])
    await asyncio.to_thread(stop.wait)
    server.close()


def _sink_process(ports, stop) -> None:
    import uvloop  # as the collector

    uvloop.run(_serve(ports, stop))


@contextlib.contextmanager
def reset_sink() -> Iterator[int]:
    """The sink's port while it runs."""
    context = multiprocessing.get_context("spawn")
    ports, stop = context.Queue(), context.Event()
    process = context.Process(target=_sink_process, args=(ports, stop), daemon=True)
    process.start()
    try:
        yield ports.get(True, 120)
    finally:
        stop.set()
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join(10)
