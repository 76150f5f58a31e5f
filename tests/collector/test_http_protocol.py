"""The collector's HTTP protocol (`collector.http_protocol`) over raw sockets: what uvicorn's
own protocol guarantees must hold when status callbacks are answered without an ASGI task
(keep-alive, pipelining, bodies in pieces, disconnects, HTTP/1.0, Expect: 100-continue)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from collector.app import CollectorConfig
from collector.receiver import StatusCallbackReceiver
from collector.signatures import StaticTokenSource
from collector.storage.database import create_database_engine
from collector.storage.schema import status_events
from tests.collector.support import (
    SUB_SID,
    SUB_TOKEN,
    RunningCollector,
    callback_params,
    message_sid,
    running_collector,
    sign,
)
from tests.support.waiting import wait_until


@pytest.fixture
def asgi_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests that reached the receiver's ASGI handler (not answered by the protocol)."""
    calls: list[str] = []
    handler = StatusCallbackReceiver.__call__

    async def counted(self, scope, receive, send) -> None:
        calls.append(scope["path"])
        await handler(self, scope, receive, send)

    monkeypatch.setattr(StatusCallbackReceiver, "__call__", counted)
    return calls


@pytest.fixture
def collector(sqlite_url: str) -> Iterator[RunningCollector]:
    tokens = StaticTokenSource({SUB_SID: SUB_TOKEN})
    with running_collector(CollectorConfig(database_url=sqlite_url, token_source=tokens)) as c:
        yield c


def _stored(url: str) -> int:
    engine = create_database_engine(url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(status_events)).scalar_one()
    engine.dispose()
    return count


def _callback(collector: RunningCollector, *, version: str = "1.1", extra: str = "") -> bytes:
    params = callback_params(SUB_SID, message_sid(), "delivered")
    body = urlencode(params).encode()
    host = urlsplit(collector.base_url).netloc
    head = (
        f"POST {collector.app.config.status_path} HTTP/{version}\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {sign(collector.status_url, params, SUB_TOKEN)}\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _connect(collector: RunningCollector) -> socket.socket:
    parts = urlsplit(collector.base_url)
    assert parts.hostname is not None and parts.port is not None
    connection = socket.create_connection((parts.hostname, parts.port), timeout=10)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


class _Answers:
    """Reads HTTP/1.1 answers off a socket, one at a time."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.connection.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def next(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed before an answer: {self.buffer!r}"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            assert self._fill(), "connection closed inside a body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        """True once the server has closed the connection (and sent nothing more)."""
        return not self._fill() and not self.buffer


def test_keep_alive_callbacks_and_other_routes_share_one_connection(
    collector: RunningCollector, sqlite_url: str, asgi_calls: list[str]
):
    with _connect(collector) as connection:
        answers = _Answers(connection)
        for _ in range(5):
            connection.sendall(_callback(collector))
            status, headers, _ = answers.next()
            assert status == 200 and headers["content-length"] == "0"
            assert "date" in headers and "connection" not in headers
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = answers.next()
        assert status == 200 and b'"200":5' in body.replace(b" ", b"")
    assert _stored(sqlite_url) == 5
    assert asgi_calls == []  # answered by the protocol, without an ASGI task


def test_pipelined_callbacks_are_answered_in_order(collector: RunningCollector, sqlite_url: str):
    forged = _callback(collector).replace(b"X-Twilio-Signature: ", b"X-Twilio-Signature: x")
    with _connect(collector) as connection:
        connection.sendall(
            b"".join([_callback(collector), forged, _callback(collector), _callback(collector)])
        )
        answers = _Answers(connection)
        assert [answers.next()[0] for _ in range(4)] == [200, 403, 200, 200]
    assert _stored(sqlite_url) == 3


def test_a_body_in_pieces_is_answered_once_complete(collector: RunningCollector, sqlite_url):
    request = _callback(collector)
    split = request.index(b"\r\n\r\n") + 4
    with _connect(collector) as connection:
        connection.sendall(request[:split])
        connection.sendall(request[split : split + 10])
        connection.sendall(request[split + 10 :])
        assert _Answers(connection).next()[0] == 200
    assert _stored(sqlite_url) == 1


def test_an_oversized_body_is_refused_and_the_connection_closed(collector: RunningCollector):
    head = (
        f"POST {collector.app.config.status_path} HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200000\r\n\r\n"
    ).encode()
    with _connect(collector) as connection:
        connection.sendall(head + b"AccountSid=" + SUB_SID.encode() + b"&x=" + b"y" * 80_000)
        answers = _Answers(connection)
        status, headers, _ = answers.next()
        assert (status, headers.get("connection")) == (400, "close")
        assert answers.closed()


def test_http_1_0_is_answered_and_closed(collector: RunningCollector, sqlite_url: str):
    with _connect(collector) as connection:
        connection.sendall(_callback(collector, version="1.0"))
        answers = _Answers(connection)
        status, headers, _ = answers.next()
        assert (status, headers["connection"]) == (200, "close")
        assert answers.closed()
    assert _stored(sqlite_url) == 1


def test_expect_100_continue_goes_through_the_asgi_handler(
    collector: RunningCollector, sqlite_url: str, asgi_calls: list[str]
):
    request = _callback(collector, extra="Expect: 100-continue\r\n")
    split = request.index(b"\r\n\r\n") + 4
    with _connect(collector) as connection:
        connection.sendall(request[:split])
        answers = _Answers(connection)
        assert answers.next()[0] == 100
        connection.sendall(request[split:])
        assert answers.next()[0] == 200
    assert _stored(sqlite_url) == 1
    assert asgi_calls == [collector.app.config.status_path]


def test_a_client_gone_before_the_commit_still_gets_its_event_stored(
    collector: RunningCollector, sqlite_url: str
):
    writer = collector.app.writer
    release = threading.Event()
    holding = threading.Event()
    commit = writer._write_prepared

    def held_commit(*args):  # the writer thread waits here until the client has gone
        holding.set()
        release.wait(10)
        return commit(*args)

    writer._write_prepared = held_commit  # type: ignore[method-assign]
    try:
        connection = _connect(collector)
        connection.sendall(_callback(collector))
        wait_until(holding.is_set, 10, "the commit to start")
        connection.close()
        wait_until(lambda: not collector.app.receiver.counters.answers, 1, "no answer yet")
    finally:
        release.set()
    wait_until(lambda: _stored(sqlite_url) == 1, 10, "the event of the client that went away")
    with _connect(collector) as connection:  # and the server goes on answering
        connection.sendall(_callback(collector))
        assert _Answers(connection).next()[0] == 200
    assert _stored(sqlite_url) == 2
