"""The status-callback receiver: what `POST <status path>` does, in two halves.

`decide` is everything that runs on the event loop at once, without a coroutine: the form
check, the estate gate, parsing, the signature against a cached token, the event, and its
hand-over to the group-commit writer. It returns the answer when that is already known, or
what is left to wait for: the commit (`PendingStore`, a future) or, rarely, a token read
(`SlowCheck`, a coroutine). `finish` turns a commit's outcome into the answer.

Two callers share it: the ASGI handler (`StatusCallbackReceiver.__call__`, for any ASGI
server and the tests that drive one) and the collector's HTTP protocol
(`collector.http_protocol`), which answers a signed callback from a future's done-callback
with no task at all. The guarantees are in `decide` and `finish`, so they hold on both paths.

Answers: 200 once the event is committed (a replay too: it is already stored); 400 when the
request is not a status callback we can store; 403 when it is unsigned, forged or from an
account the parent's credentials do not reach; 503 when the token or the database is
unavailable, so Twilio tries again later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send

from collector.events import (
    MAX_BODY_BYTES,
    FormParams,
    MalformedCallback,
    StatusEvent,
    account_sid_of,
    parse_form,
    plain_account_sid,
    status_event_from,
)
from collector.metrics import DeliveryMetrics
from collector.refusals import RefusalQueue, RejectionLog
from collector.signatures import SignatureChecker, TokenLookupError, Verdict
from collector.storage.writer import GroupCommitWriter, WriterStopped

log = logging.getLogger("collector")

FORM_TYPE = b"application/x-www-form-urlencoded"
WANTED_HEADERS = frozenset(
    {
        b"content-type",
        b"host",
        b"x-twilio-signature",
        b"x-twilio-webhooks-signature-settings",
        b"i-twilio-idempotency-token",
    }
)
REFUSED = (400, 403)  # answered last (`collector.refusals`)


@dataclass
class ReceiverCounters:
    answers: Counter[int] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)  # by a reason of REASONS


# Refusal reasons: a fixed set, so counters and metric labels stay bounded whatever is sent.
NOT_FORM, MALFORMED = "not_form", "malformed"
TOKEN_UNAVAILABLE, NOT_STORED = "token_unavailable", "not_stored"
_VERDICT_REASONS = {
    Verdict.UNSIGNED: "unsigned",
    Verdict.FORGED: "forged",
    Verdict.UNKNOWN_ACCOUNT: "unknown_account",
    Verdict.UNSUPPORTED_SCHEME: "unsupported_signature",
}


def _response(status: int, body: bytes = b"") -> tuple[dict, dict]:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.insert(0, (b"content-type", b"text/plain; charset=utf-8"))
    start = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


# Prebuilt answers: the receiver's replies never vary.
ANSWERS = {
    200: _response(200),
    400: _response(400, b"malformed status callback\n"),
    403: _response(403, b"forbidden\n"),
    503: _response(503, b"temporarily unavailable, retry\n"),
}


@dataclass(slots=True)
class PendingStore:
    """An event handed to the writer: `stored` completes when its commit has returned."""

    stored: asyncio.Future
    event: StatusEvent
    handed_over: float  # perf_counter at the hand-over, for the store latency


SlowCheck = Coroutine[Any, Any, int]  # a signature that needs a token read first
Decision = int | PendingStore | SlowCheck


class StatusCallbackReceiver:
    """`POST <status path>`: the raw ASGI handler, and `decide`/`finish` for the protocol."""

    def __init__(
        self, checker: SignatureChecker, writer: GroupCommitWriter, public_url: str | None
    ):
        self.checker = checker
        self.writer = writer
        self.public_url = public_url.rstrip("/") if public_url else None
        self.counters = ReceiverCounters()
        self.metrics = DeliveryMetrics()
        self._rejection_log = RejectionLog()
        self.refusals = RefusalQueue()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = await self._handle(scope, receive)
        if status in REFUSED:
            await self.refusals.turn()  # after the callbacks that are being stored
        self.counters.answers[status] += 1
        start, body = ANSWERS[status]
        await send(start)
        await send(body)

    async def _handle(self, scope: Scope, receive: Receive) -> int:
        headers = wanted_headers(scope)
        if not is_form(headers):
            return self.reject(400, NOT_FORM, "not a form body")
        try:
            body = await _read_body(receive)
        except MalformedCallback as error:
            return self.reject(400, MALFORMED, str(error))
        decision = self.decide(scope, headers, body)
        if isinstance(decision, int):
            return decision
        if isinstance(decision, PendingStore):
            try:
                await decision.stored
            except WriterStopped as error:
                return self.finish(decision, error)
            return self.finish(decision, None)
        return await decision

    def requested_url(self, scope: Mapping[str, Any], headers: dict[bytes, bytes]) -> str:
        """The URL Twilio requested, as it wrote it: that is what it signed."""
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        suffix = f"{path}?{query}" if query else path
        if self.public_url is not None:
            return self.public_url + suffix
        host = headers.get(b"host", b"").decode("latin-1")
        if not host:
            server = scope.get("server") or ("localhost", None)
            host = f"{server[0]}:{server[1]}" if server[1] else server[0]
        return f"{scope.get('scheme', 'http')}://{host}{suffix}"

    def decide(
        self, scope: Mapping[str, Any], headers: dict[bytes, bytes], body: bytes
    ) -> Decision:
        """Everything up to the commit, on the loop and at once (see the module docstring).
        `headers`: `wanted_headers(scope)`, already found to be a form (`is_form`)."""
        try:
            if len(body) > MAX_BODY_BYTES:
                raise MalformedCallback(f"body larger than {MAX_BODY_BYTES} bytes")
            # Most of a flood names random accounts: refused before the form is parsed.
            plain = plain_account_sid(body)
            if plain is not None and self.checker.surely_unknown(plain):
                return self.reject(403, "unknown_account", plain)
            params = parse_form(body)
            account_sid = account_sid_of(params)
        except MalformedCallback as error:
            return self.reject(400, MALFORMED, str(error))
        if self.checker.surely_unknown(account_sid):
            return self.reject(403, "unknown_account", account_sid)
        raw_signature = headers.get(b"x-twilio-signature")
        signature = raw_signature.decode("latin-1") if raw_signature else None
        settings = headers.get(b"x-twilio-webhooks-signature-settings")
        url = self.requested_url(scope, headers)
        if (
            signature is None
            or settings is not None
            or not self.checker.check_cached(url, params, account_sid, signature)
        ):
            return self._check_then_store(
                url,
                params,
                account_sid,
                signature,
                settings.decode("latin-1") if settings else None,
                headers,
            )
        return self._store(params, account_sid, headers)

    async def _check_then_store(
        self,
        url: str,
        params: FormParams,
        account_sid: str,
        signature: str | None,
        settings: str | None,
        headers: dict[bytes, bytes],
    ) -> int:
        """The signature when the cached token is not enough (none cached yet, a rotation,
        a forgery), then the store: the path with a coroutine."""
        try:
            verdict = await self.checker.check(url, params, account_sid, signature, settings)
        except TokenLookupError as error:
            log.warning("cannot check a callback of %s: %s", account_sid, error)
            return self.reject(503, TOKEN_UNAVAILABLE, "token lookup failed")
        if verdict is not Verdict.VALID:
            return self.reject(403, _VERDICT_REASONS[verdict], account_sid)
        decision = self._store(params, account_sid, headers)
        if isinstance(decision, int):
            return decision
        try:
            await decision.stored
        except WriterStopped as error:
            return self.finish(decision, error)
        return self.finish(decision, None)

    def _store(
        self, params: FormParams, account_sid: str, headers: dict[bytes, bytes]
    ) -> int | PendingStore:
        try:
            idempotency = headers.get(b"i-twilio-idempotency-token")
            event = status_event_from(
                params,
                idempotency_token=idempotency.decode("latin-1") if idempotency else None,
                account_sid=account_sid,
            )
        except MalformedCallback as error:
            return self.reject(400, MALFORMED, str(error))
        handed_over = time.perf_counter()
        try:
            stored = self.writer.submit(event)
        except WriterStopped as error:
            log.warning("event of %s not stored: %s", event.message_sid, error)
            return self.reject(503, NOT_STORED, "not stored")
        return PendingStore(stored, event, handed_over)

    def finish(self, pending: PendingStore, failure: BaseException | None) -> int:
        """The answer once the writer is done with `pending` (`failure`: what it raised)."""
        if failure is not None:
            log.warning("event of %s not stored: %s", pending.event.message_sid, failure)
            return self.reject(503, NOT_STORED, "not stored")
        self.metrics.stored(pending.event, time.perf_counter() - pending.handed_over)
        return 200

    def reject(self, status: int, reason: str, detail: str) -> int:
        self.counters.rejections[reason] += 1
        self._rejection_log.note(status, reason, detail)
        return status


def wanted_headers(scope: Mapping[str, Any]) -> dict[bytes, bytes]:
    return {name: value for name, value in scope["headers"] if name in WANTED_HEADERS}


def is_form(headers: dict[bytes, bytes]) -> bool:
    return headers.get(b"content-type", FORM_TYPE).split(b";")[0].strip().lower() == FORM_TYPE


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise MalformedCallback("client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MalformedCallback(f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
