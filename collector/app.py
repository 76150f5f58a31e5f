"""The collector's ASGI application.

`POST <status path>` is the status-callback receiver. It is served by a small ASGI handler of
its own, ahead of Starlette's router: it is the one route under load, and skipping the
Request/Response machinery there roughly doubles the requests one core can answer. Everything
else (the dashboard, the JSON report, health) is ordinary Starlette.

Answers: 200 once the event is committed (a replay too: it is already stored); 400 when the
request is not a status callback we can store; 403 when it is unsigned, forged or from an
account the parent's credentials do not reach; 503 when the token or the database is
unavailable, so Twilio tries again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

from collector import dashboard
from collector.events import (
    MAX_BODY_BYTES,
    MalformedCallback,
    account_sid_of,
    parse_form,
    status_event_from,
)
from collector.reports import GROUPINGS, ReportFilter, build_report
from collector.signatures import SignatureChecker, TokenLookupError, TokenSource, Verdict
from collector.storage.database import create_database_engine, describe_url
from collector.storage.migrations import migrate
from collector.storage.writer import GroupCommitWriter, WriterStopped
from collector.usage import CachedUsageSource, UsageSource

log = logging.getLogger("collector")

DEFAULT_STATUS_PATH = "/twilio/status"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_FORM_TYPE = b"application/x-www-form-urlencoded"
_WANTED_HEADERS = frozenset(
    {
        b"content-type",
        b"host",
        b"x-twilio-signature",
        b"x-twilio-webhooks-signature-settings",
        b"i-twilio-idempotency-token",
    }
)


@dataclass
class CollectorConfig:
    database_url: str
    token_source: TokenSource
    status_path: str = DEFAULT_STATUS_PATH
    # Externally visible base URL (scheme://host[:port][/prefix]) when a proxy or port mapping
    # sits in front: Twilio signs the URL it requested, not the one we are reached at.
    public_url: str | None = None
    usage_source: UsageSource | None = None
    max_batch: int = 512


@dataclass
class ReceiverCounters:
    answers: Counter[int] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)


def _response(status: int, body: bytes = b"") -> tuple[dict, dict]:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.insert(0, (b"content-type", b"text/plain; charset=utf-8"))
    start = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


# Prebuilt answers: the receiver's replies never vary.
_ANSWERS = {
    200: _response(200),
    400: _response(400, b"malformed status callback\n"),
    403: _response(403, b"forbidden\n"),
    503: _response(503, b"temporarily unavailable, retry\n"),
}


class StatusCallbackReceiver:
    """The raw ASGI handler of `POST <status path>`."""

    def __init__(
        self, checker: SignatureChecker, writer: GroupCommitWriter, public_url: str | None
    ):
        self.checker = checker
        self.writer = writer
        self.public_url = public_url.rstrip("/") if public_url else None
        self.counters = ReceiverCounters()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = await self._handle(scope, receive)
        self.counters.answers[status] += 1
        start, body = _ANSWERS[status]
        await send(start)
        await send(body)

    def requested_url(self, scope: Scope, headers: dict[bytes, bytes]) -> str:
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

    async def _handle(self, scope: Scope, receive: Receive) -> int:
        headers = {name: value for name, value in scope["headers"] if name in _WANTED_HEADERS}
        content_type = headers.get(b"content-type", _FORM_TYPE).split(b";")[0].strip().lower()
        if content_type != _FORM_TYPE:
            return self._reject(400, "not a form body")
        try:
            params = parse_form(await _read_body(receive))
            account_sid = account_sid_of(params)
        except MalformedCallback as error:
            return self._reject(400, str(error))
        raw_signature = headers.get(b"x-twilio-signature")
        signature = raw_signature.decode("latin-1") if raw_signature else None
        settings = headers.get(b"x-twilio-webhooks-signature-settings")
        url = self.requested_url(scope, headers)
        if (
            signature is None
            or settings is not None
            or not self.checker.check_cached(url, params, account_sid, signature)
        ):
            try:
                verdict = await self.checker.check(
                    url,
                    params,
                    account_sid,
                    signature,
                    settings.decode("latin-1") if settings else None,
                )
            except TokenLookupError as error:
                log.warning("cannot check a callback of %s: %s", account_sid, error)
                return self._reject(503, "token lookup failed")
            if verdict is not Verdict.VALID:
                return self._reject(403, f"{verdict.value} ({account_sid})")
        try:
            idempotency = headers.get(b"i-twilio-idempotency-token")
            event = status_event_from(
                params,
                idempotency_token=idempotency.decode("latin-1") if idempotency else None,
                account_sid=account_sid,
            )
        except MalformedCallback as error:
            return self._reject(400, str(error))
        try:
            await self.writer.submit(event)
        except WriterStopped as error:
            log.warning("event of %s not stored: %s", event.message_sid, error)
            return self._reject(503, "not stored")
        return 200

    def _reject(self, status: int, reason: str) -> int:
        self.counters.rejections[reason.split(" (")[0]] += 1
        log.info("answered %d: %s", status, reason)
        return status


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


class CollectorApp:
    """The ASGI entry point: the receiver for status callbacks, Starlette for the rest."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.reader_engine = create_database_engine(config.database_url)
        self.writer = GroupCommitWriter(
            create_database_engine(config.database_url, sqlite_begin="IMMEDIATE"),
            max_batch=config.max_batch,
        )
        self.checker = SignatureChecker(config.token_source)
        self.receiver = StatusCallbackReceiver(self.checker, self.writer, config.public_url)
        self.usage = CachedUsageSource(config.usage_source) if config.usage_source else None
        self.started_at = time.time()
        self.web = Starlette(
            routes=[
                Route("/", lambda request: RedirectResponse("/dashboard")),
                Route("/dashboard", self.dashboard_page),
                Route("/api/report", self.report_json),
                Route("/healthz", self.health),
                Route(
                    config.status_path, self.method_not_allowed, methods=["GET", "PUT", "DELETE"]
                ),
            ],
            lifespan=self.lifespan,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == self.config.status_path
        ):
            await self.receiver(scope, receive, send)
        else:
            await self.web(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, self.config.database_url)
        self.writer.start()
        log.info(
            "collector ready: POST %s, database %s",
            self.config.status_path,
            describe_url(self.config.database_url),
        )
        try:
            yield
        finally:
            # In-flight requests have been answered by now; commit whatever is still queued.
            await self.writer.aclose()
            self.writer.engine.dispose()
            self.reader_engine.dispose()

    # --- Starlette routes -------------------------------------------------------------------

    async def method_not_allowed(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("status callbacks are POSTed\n", status_code=405)

    async def health(self, request: Request) -> JSONResponse:
        stats = self.writer.stats
        counters = self.receiver.counters
        return JSONResponse(
            {
                "status": "ok",
                "pid": os.getpid(),  # with --workers N, each process counts its own
                "uptime_s": round(time.time() - self.started_at, 3),
                "answers": {str(code): n for code, n in sorted(counters.answers.items())},
                "rejections": dict(counters.rejections),
                "writer": {
                    "commits": stats.commits,
                    "events": stats.events,
                    "largest_batch": stats.largest_batch,
                    "failed_commits": stats.failed_commits,
                    "lock_waits": stats.lock_waits,
                    "commit_seconds": round(stats.commit_seconds, 6),
                },
            }
        )

    def _query(self, request: Request) -> tuple[str, ReportFilter]:
        by = request.query_params.get("by", "account")
        if by not in GROUPINGS:
            by = "account"
        filters = ReportFilter(
            account_sid=request.query_params.get("account") or None,
            messaging_service_sid=request.query_params.get("service") or None,
            sender=request.query_params.get("sender") or None,
            day=request.query_params.get("day") or None,
        )
        return by, filters

    async def report_json(self, request: Request) -> JSONResponse:
        by, filters = self._query(request)
        report = await asyncio.to_thread(build_report, self.reader_engine, by, filters, self.usage)
        return JSONResponse(report.to_dict())

    async def dashboard_page(self, request: Request) -> HTMLResponse:
        by, filters = self._query(request)
        page = await asyncio.to_thread(
            dashboard.render_page, self.reader_engine, by, filters, self.usage
        )
        return HTMLResponse(page)


def build_app(config: CollectorConfig) -> CollectorApp:
    return CollectorApp(config)


# `serve --workers N` starts N processes that each build the app from the environment.
STATUS_PATH_ENV = "COLLECTOR_STATUS_PATH"
PUBLIC_URL_ENV = "COLLECTOR_PUBLIC_URL"
USAGE_ENV = "COLLECTOR_USAGE"


def app_from_environment() -> CollectorApp:
    """The app as `serve` configures it, from COLLECTOR_* variables (uvicorn's worker
    processes import this factory by name)."""
    from collector.signatures import TwilioTokenSource
    from collector.storage.database import DATABASE_URL_ENV, DEFAULT_DATABASE_URL
    from collector.usage import TwilioUsageSource

    token_source = TwilioTokenSource.from_environment()
    return build_app(
        CollectorConfig(
            database_url=os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL,
            token_source=token_source,
            status_path=os.environ.get(STATUS_PATH_ENV) or DEFAULT_STATUS_PATH,
            public_url=os.environ.get(PUBLIC_URL_ENV) or None,
            usage_source=(
                TwilioUsageSource(token_source.session)
                if os.environ.get(USAGE_ENV, "1") != "0"
                else None
            ),
        )
    )
