"""The collector's HTTP protocol for uvicorn (`http="collector.gate:GatedHttpProtocol"`):
uvicorn's own, behind a gate that closes the connections of clients over their refusal budget
(`collector.peers`) as they are accepted.

A cut-off connection is never read: no HTTP parser is built, no request cycle or task runs,
nothing is answered. It is held for the budget's `hold_seconds` (at most `max_held` at a time)
and then reset (SO_LINGER 0, then abort: neither side keeps a TIME_WAIT socket). A client that
was refused before is counted while its connections are open (`RefusalBudget.admit` and
`release`). Every other connection is handed to uvicorn's protocol unchanged, and while no
client has been refused the gate does not even look at addresses.

Connections from a trusted proxy (`--forwarded-allow-ips`) are never cut: the proxy carries
Twilio's callbacks too. Behind a proxy the budget still counts refusals per client (uvicorn
takes the client's address from the proxy's X-Forwarded-For), but an over-budget client's
requests then reach the receiver, which refuses them before reading their body; rate-limit
at the proxy as well (see collector/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import weakref
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from collector.peers import RefusalBudget

# SO_LINGER on, 0 s: close() resets the connection instead of a FIN and a TIME_WAIT.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def _budget_of(app: Any) -> RefusalBudget | None:
    """The budget of the collector app under uvicorn's wrappers (each keeps the next in
    `.app`), or None when the app has none (the gate then lets everything through)."""
    for _ in range(8):
        budget = getattr(app, "refusal_budget", None)
        if isinstance(budget, RefusalBudget):
            return budget
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class _TrustedProxies:
    """uvicorn's `forwarded_allow_ips` as a membership test: addresses, networks, or `*`."""

    def __init__(self, allowed: list[str] | str | None, proxy_headers: bool) -> None:
        items = allowed.split(",") if isinstance(allowed, str) else list(allowed or [])
        items = [item.strip() for item in items if item.strip()] if proxy_headers else []
        self.everyone = "*" in items
        self.networks = []
        self.names = set()
        for item in items:
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.names.add(item)  # a Unix socket path, as uvicorn allows

    def __contains__(self, address: str) -> bool:
        if self.everyone or address in self.names:
            return True
        if not self.networks:
            return False
        try:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)


# One Config per server: its proxies are parsed once, not per connection.
_proxies_by_config: weakref.WeakKeyDictionary[Config, _TrustedProxies] = weakref.WeakKeyDictionary()


def _trusted_proxies(config: Config) -> _TrustedProxies:
    proxies = _proxies_by_config.get(config)
    if proxies is None:
        proxies = _TrustedProxies(config.forwarded_allow_ips, config.proxy_headers)
        _proxies_by_config[config] = proxies
    return proxies


class GatedHttpProtocol(asyncio.Protocol):
    """Builds uvicorn's protocol only for connections that pass the gate, then forwards every
    event to it. Constructed per accepted connection with uvicorn's protocol arguments."""

    __slots__ = ("_arguments", "_held", "_holding", "_inner")

    def __init__(self, config: Config, **arguments: Any) -> None:
        self._arguments = (config, arguments)
        # uvicorn's protocol class, typed only as an asyncio.Protocol by uvicorn.
        self._inner: Any = None
        # (budget, address) while this connection is counted open in its client's bucket.
        self._held: tuple[RefusalBudget, str] | None = None
        # A cut-off connection held unread until its reset: the budget and the reset's timer.
        self._holding: tuple[RefusalBudget, asyncio.TimerHandle] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        config, arguments = self._arguments
        budget = _budget_of(config.loaded_app)
        if budget is not None and len(budget) > 0:  # no client refused yet: nothing to look up
            peer = transport.get_extra_info("peername")
            address = peer[0] if isinstance(peer, tuple) and peer else None
            if isinstance(address, str) and address not in _trusted_proxies(config):
                admitted = budget.admit(address)
                if admitted is False:
                    budget.cut_off += 1
                    self._cut_off(budget, transport)
                    return
                if admitted:
                    self._held = (budget, address)
        protocol_class: Any = AutoHTTPProtocol
        self._inner = protocol_class(config=config, **arguments)
        self._inner.connection_made(transport)

    def _cut_off(self, budget: RefusalBudget, transport: asyncio.BaseTransport) -> None:
        """Reset the connection, after holding it unread for a while when there is room.

        A forger that reconnects as soon as it is reset costs an accept and a reset per
        attempt, as fast as it can loop (about as much as a refused request on a kept-alive
        connection: measured). Held, each of its connections makes one attempt per hold."""
        settings = budget.settings
        if settings.hold_seconds <= 0 or budget.held >= settings.max_held:
            _reset(transport)
            return
        budget.held += 1
        loop = asyncio.get_running_loop()
        # uvloop starts reading after connection_made returns: pause just after it.
        loop.call_soon(transport.pause_reading)  # type: ignore[attr-defined]
        self._holding = (budget, loop.call_later(settings.hold_seconds, _reset, transport))

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._holding is not None:  # reset, or the forger gave up first
            budget, timer = self._holding
            self._holding = None
            timer.cancel()
            budget.held -= 1
        if self._held is not None:
            budget, address = self._held
            self._held = None
            budget.release(address)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


def _reset(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    transport.abort()  # type: ignore[attr-defined]
