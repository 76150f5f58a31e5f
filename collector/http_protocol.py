"""The collector's HTTP protocol: uvicorn's httptools protocol, with signed status callbacks
answered without an ASGI task.

Under load almost every request is `POST <status path>`, and uvicorn's ASGI machinery is half
of a callback's CPU on the event loop: a task per request, its steps, an `asyncio.Event`, two
`send` coroutines that check each header, two socket writes. Here uvicorn still reads and
parses the request (httptools), builds its scope and runs pipelining, keep-alive, flow
control and shutdown as it always does; only starting the app changes. When the request is
the status callback and the body is complete, `StatusCallbackReceiver.decide` runs at once
and the answer is written in one piece from the commit's done-callback. What `decide` cannot
answer at once (a token to read, a refusal that waits its turn) continues in a task or a
callback. Anything unusual (another route, `Expect: 100-continue`, the concurrency limit's
503) takes uvicorn's own path to the ASGI app, which serves the status path too.

It subclasses `uvicorn.protocols.http.httptools_impl.HttpToolsProtocol` and uses its
per-request state (`cycle`, `scope`, `pipeline`): uvicorn is pinned in requirements.txt, and
`tests/collector/test_http_protocol.py` runs this against a real server, keep-alive,
pipelining, oversized and split bodies and disconnects included.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from collector.events import MAX_BODY_BYTES
from collector.receiver import (
    ANSWERS,
    MALFORMED,
    NOT_FORM,
    REFUSED,
    PendingStore,
    StatusCallbackReceiver,
    is_form,
    wanted_headers,
)
from collector.storage.writer import WriterStopped

log = logging.getLogger("collector")


class _AnswerBytes:
    """Each answer's bytes as uvicorn would write them (`ANSWERS`, after uvicorn's default
    headers: the date), built once per (status, keep-alive) while the date stays the same."""

    def __init__(self) -> None:
        self._defaults: list[tuple[bytes, bytes]] | None = None
        self._answers: dict[tuple[int, bool], bytes] = {}

    def get(self, status: int, keep_alive: bool, defaults: list[tuple[bytes, bytes]]) -> bytes:
        if defaults is not self._defaults:  # uvicorn replaces the list every second
            self._defaults, self._answers = defaults, {}
        answer = self._answers.get((status, keep_alive))
        if answer is None:
            start, body = ANSWERS[status]
            lines = [STATUS_LINE[status]]
            lines.extend(name + b": " + value + b"\r\n" for name, value in defaults)
            lines.extend(name + b": " + value + b"\r\n" for name, value in start["headers"])
            if not keep_alive:
                lines.append(b"connection: close\r\n")
            answer = b"".join([*lines, b"\r\n", body["body"]])
            self._answers[(status, keep_alive)] = answer
        return answer


_ANSWER_BYTES = _AnswerBytes()


class CollectorHttpProtocol(HttpToolsProtocol):
    """`uvicorn.run(app, http=CollectorHttpProtocol)` for a `CollectorApp` (any other app is
    served exactly as by `HttpToolsProtocol`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        receiver = getattr(self.app, "receiver", None)
        config = getattr(self.app, "config", None)
        self.receiver: StatusCallbackReceiver | None = (
            receiver if isinstance(receiver, StatusCallbackReceiver) else None
        )
        self.status_path: str | None = getattr(config, "status_path", None)
        # Per request: the cycle of a status callback that this protocol answers itself.
        self._direct: RequestResponseCycle | None = None

    # --- where uvicorn would start the ASGI app -------------------------------------------

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if not self._answers_directly(cycle, app):
            super()._start_asgi_task(cycle, app)
            return
        if cycle.more_body:  # the body is still arriving: answered at on_message_complete
            self._direct = cycle
        else:  # a pipelined request, started once the one before it was answered
            self._decide(cycle)

    def _answers_directly(self, cycle: RequestResponseCycle, app: Any) -> bool:
        scope = cycle.scope
        return (
            self.receiver is not None
            and app is self.app  # not the concurrency limit's 503
            and scope["method"] == "POST"
            and scope["path"] == self.status_path
            and not cycle.waiting_for_100_continue
        )

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        cycle = self._direct
        if cycle is self.cycle and cycle is not None and len(cycle.body) > MAX_BODY_BYTES:
            # Refused without reading the rest (uvicorn would stop reading here and wait for
            # the app): the connection closes, as nothing tells where the next request starts.
            self._direct = None
            cycle.keep_alive = False
            self._answer(cycle, self._reject(400, MALFORMED, "body too large"))

    def on_message_complete(self) -> None:
        super().on_message_complete()
        cycle = self._direct
        if cycle is not None and cycle is self.cycle:
            self._direct = None
            self._decide(cycle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._direct = None
        super().connection_lost(exc)

    # --- the callback ----------------------------------------------------------------------

    def _decide(self, cycle: RequestResponseCycle) -> None:
        receiver = self.receiver
        assert receiver is not None
        try:
            headers = wanted_headers(cycle.scope)
            if not is_form(headers):
                decision: Any = self._reject(400, NOT_FORM, "not a form body")
            else:
                body = bytes(cycle.body)
                cycle.body = bytearray()
                decision = receiver.decide(cycle.scope, headers, body)
        except Exception as error:  # a bug: answer as uvicorn does, keep the connection sane
            self._failed(cycle, error)
            return
        if isinstance(decision, int):
            self._answer(cycle, decision)
        elif isinstance(decision, PendingStore):
            decision.stored.add_done_callback(lambda stored: self._stored(cycle, decision, stored))
        else:
            self._in_task(cycle, decision)

    def _stored(self, cycle: RequestResponseCycle, pending: PendingStore, stored: Any) -> None:
        assert self.receiver is not None
        failure = stored.exception() if not stored.cancelled() else WriterStopped("cancelled")
        try:
            status = self.receiver.finish(pending, failure)
        except Exception as error:
            self._failed(cycle, error)
            return
        self._answer(cycle, status)

    def _in_task(self, cycle: RequestResponseCycle, work: Awaitable[int]) -> None:
        """The rest of a callback whose answer needs awaiting, as a task uvicorn's shutdown
        waits for."""

        async def run() -> None:
            try:
                status = await work
            except Exception as error:
                self._failed(cycle, error)
                return
            self._answer(cycle, status)

        task = self.loop.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _reject(self, status: int, reason: str, detail: str) -> int:
        assert self.receiver is not None
        return self.receiver.reject(status, reason, detail)

    def _answer(self, cycle: RequestResponseCycle, status: int) -> None:
        assert self.receiver is not None
        if status in REFUSED:
            # After the callbacks being stored (`collector.refusals`), like the ASGI path.
            turn = self.receiver.refusals.turn()
            turn.add_done_callback(lambda _: self._write(cycle, status))
        else:
            self._write(cycle, status)

    def _write(self, cycle: RequestResponseCycle, status: int) -> None:
        assert self.receiver is not None
        self.receiver.counters.answers[status] += 1
        if cycle.disconnected or cycle.response_complete or self.transport.is_closing():
            return  # the client went away; a stored event stays stored
        answer = _ANSWER_BYTES.get(status, cycle.keep_alive, cycle.default_headers)
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        if self.access_log:  # the line uvicorn's `send` would log
            scope = cycle.scope
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(scope),
                scope["method"],
                get_path_with_query_string(scope),
                scope["http_version"],
                status,
            )
        self.transport.write(answer)
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            self.transport.close()
        cycle.on_response()

    def _failed(self, cycle: RequestResponseCycle, error: BaseException) -> None:
        self.logger.error("Exception in the status-callback receiver", exc_info=error)
        if cycle.disconnected or cycle.response_complete or self.transport.is_closing():
            return
        cycle.keep_alive = False
        cycle.response_started = True
        self.transport.write(
            STATUS_LINE[500] + b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21"
            b"\r\nconnection: close\r\n\r\nInternal Server Error"
        )
        cycle.response_complete = True
        self.transport.close()
        cycle.on_response()


def collector_http_protocol() -> type[asyncio.Protocol]:
    """The `http=` option for uvicorn; `python -m collector serve` and the benchmark use it."""
    return CollectorHttpProtocol
