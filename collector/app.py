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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from collector import dashboard
from collector.accounts import DEFAULT_REFRESH_INTERVAL_S, AccountDirectory, EstateAccount
from collector.events import (
    MAX_BODY_BYTES,
    MalformedCallback,
    account_sid_of,
    parse_form,
    plain_account_sid,
    status_event_from,
)
from collector.metrics import DEFAULT_TOP_TENANTS, DeliveryMetrics, MetricsExporter, Snapshot
from collector.names import NameMap, NameMapFiles
from collector.peers import BudgetSettings, RefusalBudget
from collector.refusals import RefusalQueue, RejectionLog
from collector.reports import GROUPINGS, Grouping, ReportFilter, build_report
from collector.shared_metrics import SYNC_INTERVAL_S, SharedMetrics, render_merged
from collector.signatures import SignatureChecker, TokenLookupError, TokenSource, Verdict
from collector.storage.account_names import save_friendly_names
from collector.storage.database import create_database_engine, describe_url
from collector.storage.migrations import migrate
from collector.storage.writer import GroupCommitWriter, WriterStopped
from collector.usage import CachedUsageSource, UsageSource

log = logging.getLogger("collector")

DEFAULT_STATUS_PATH = "/twilio/status"


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
    # Name maps (`pulumi stack output --json` files), re-read when they change.
    names_files: tuple[Path, ...] = ()
    # Accounts accepted besides the parent's subaccount list: one SID a line.
    allow_list: Path | None = None
    accounts_refresh_s: float = DEFAULT_REFRESH_INTERVAL_S
    metrics_top_tenants: int = DEFAULT_TOP_TENANTS
    # Refusals a client may earn before its connections are cut off (collector.peers).
    refusal_budget: BudgetSettings = field(default_factory=BudgetSettings)
    # PROMETHEUS_MULTIPROC_DIR of `serve --workers N` (collector.shared_metrics); None: this
    # process's /metrics is the whole collector's.
    metrics_directory: Path | None = None


@dataclass
class ReceiverCounters:
    answers: Counter[int] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)  # by a reason of REASONS


# Refusal reasons: a fixed set, so counters and metric labels stay bounded whatever is sent.
NOT_FORM, MALFORMED = "not_form", "malformed"
TOKEN_UNAVAILABLE, NOT_STORED = "token_unavailable", "not_stored"
OVER_BUDGET = "over_budget"
_VERDICT_REASONS = {
    Verdict.UNSIGNED: "unsigned",
    Verdict.FORGED: "forged",
    Verdict.UNKNOWN_ACCOUNT: "unknown_account",
    Verdict.UNSUPPORTED_SCHEME: "unsupported_signature",
}


def _response(status: int, body: bytes = b"", *, close: bool = False) -> tuple[dict, dict]:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.insert(0, (b"content-type", b"text/plain; charset=utf-8"))
    if close:
        headers.append((b"connection", b"close"))
    start = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


# Prebuilt answers: the receiver's replies never vary.
_ANSWERS = {
    200: _response(200),
    400: _response(400, b"malformed status callback\n"),
    403: _response(403, b"forbidden\n"),
    503: _response(503, b"temporarily unavailable, retry\n"),
}
# A refusal ends its connection: the client's next request comes through the gate
# (collector.gate), which cuts off clients over their refusal budget before reading a byte.
_REFUSALS = {
    400: _response(400, b"malformed status callback\n", close=True),
    403: _response(403, b"forbidden\n", close=True),
}


_MAX_CACHED_URLS = 64


class StatusCallbackReceiver:
    """The raw ASGI handler of `POST <status path>`."""

    def __init__(
        self,
        checker: SignatureChecker,
        writer: GroupCommitWriter,
        public_url: str | None,
        budget: RefusalBudget | None = None,
    ):
        self.checker = checker
        self.budget = budget if budget is not None else RefusalBudget()
        self.writer = writer
        self.public_url = public_url.rstrip("/") if public_url else None
        self.counters = ReceiverCounters()
        self.metrics = DeliveryMetrics()
        self._rejection_log = RejectionLog()
        self.refusals = RefusalQueue()
        # The URL of each (path, query, host, scheme, server): the same few for every callback.
        # Bounded, since a client chooses the Host header and the query.
        self._urls: dict[tuple, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        address = client[0] if client else None
        if address is not None and self.budget.exhausted(address):
            # Over its refusal budget: the gate resets its new connections; a request through
            # a trusted proxy or on a connection it opened before is refused unread here.
            status = self._reject(403, OVER_BUDGET, address)
        else:
            status = await self._handle(scope, receive)
            if status in (400, 403) and address is not None:
                self.budget.spend(address)
        answers = _ANSWERS
        if status in (400, 403):
            await self.refusals.turn()  # after the callbacks that are being stored
            answers = _REFUSALS
        self.counters.answers[status] += 1
        start, body = answers[status]
        await send(start)
        await send(body)

    def requested_url(self, scope: Scope, headers: dict[bytes, bytes]) -> str:
        """The URL Twilio requested, as it wrote it: that is what it signed."""
        key = (
            scope.get("raw_path"),
            scope.get("query_string"),
            headers.get(b"host"),
            scope.get("scheme"),
            scope.get("server"),
        )
        url = self._urls.get(key)
        if url is None:
            url = self._build_url(scope, headers)
            if len(self._urls) < _MAX_CACHED_URLS:
                self._urls[key] = url
        return url

    def _build_url(self, scope: Scope, headers: dict[bytes, bytes]) -> str:
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
        content_type = headers.get(b"content-type", _FORM_TYPE)
        if content_type != _FORM_TYPE:  # parameters or another spelling of it
            content_type = content_type.split(b";")[0].strip().lower()
        if content_type != _FORM_TYPE:
            return self._reject(400, NOT_FORM, "not a form body")
        try:
            body = await _read_body(receive)
            # Most of a flood names random accounts: refused before the form is parsed.
            plain = plain_account_sid(body)
            if plain is not None and self.checker.surely_unknown(plain):
                return self._reject(403, "unknown_account", plain)
            params = parse_form(body)
            account_sid = account_sid_of(params)
        except MalformedCallback as error:
            return self._reject(400, MALFORMED, str(error))
        # `plain`, when read, is the parsed SID too (`plain_account_sid`): already checked.
        if account_sid != plain and self.checker.surely_unknown(account_sid):
            return self._reject(403, "unknown_account", account_sid)
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
                return self._reject(503, TOKEN_UNAVAILABLE, "token lookup failed")
            if verdict is not Verdict.VALID:
                return self._reject(403, _VERDICT_REASONS[verdict], account_sid)
        try:
            idempotency = headers.get(b"i-twilio-idempotency-token")
            event = status_event_from(
                params,
                idempotency_token=idempotency.decode("latin-1") if idempotency else None,
                account_sid=account_sid,
            )
        except MalformedCallback as error:
            return self._reject(400, MALFORMED, str(error))
        handed_over = time.perf_counter()
        try:
            await self.writer.submit(event)
        except WriterStopped as error:
            log.warning("event of %s not stored: %s", event.message_sid, error)
            return self._reject(503, NOT_STORED, "not stored")
        self.metrics.stored(event, time.perf_counter() - handed_over)
        return 200

    def _reject(self, status: int, reason: str, detail: str) -> int:
        self.counters.rejections[reason] += 1
        self._rejection_log.note(status, reason, detail)
        return status


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body = message.get("body", b"")  # the whole body at once: the usual case
        if len(body) > MAX_BODY_BYTES:
            raise MalformedCallback(f"body larger than {MAX_BODY_BYTES} bytes")
        return body
    return await _read_rest(receive, message)


async def _read_rest(receive: Receive, message: Message) -> bytes:
    chunks = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise MalformedCallback("client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MalformedCallback(f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


class CollectorApp:
    """The ASGI entry point: the receiver for status callbacks, Starlette for the rest."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.reader_engine = create_database_engine(config.database_url)
        self.writer = GroupCommitWriter(
            create_database_engine(config.database_url, sqlite_begin="IMMEDIATE"),
            max_batch=config.max_batch,
        )
        self.names = NameMapFiles(config.names_files)
        self.directory = AccountDirectory(
            config.token_source,
            allow_list=config.allow_list,
            extra_known=self.names.account_sids,
            refresh_interval=config.accounts_refresh_s,
        )
        self.checker = SignatureChecker(config.token_source, directory=self.directory)
        self.directory.on_refresh.append(self._store_friendly_names)
        # uvicorn's protocol (collector.gate) finds the budget here, under uvicorn's wrappers.
        self.refusal_budget = RefusalBudget(config.refusal_budget)
        self.receiver = StatusCallbackReceiver(
            self.checker, self.writer, config.public_url, self.refusal_budget
        )
        self.exporter = MetricsExporter(self.current_names, top_tenants=config.metrics_top_tenants)
        # `serve --workers N`: every worker's counts in the multiprocess files, merged per scrape.
        self.shared_metrics = (
            SharedMetrics(
                config.metrics_directory,
                self.current_names,
                top_tenants=config.metrics_top_tenants,
            )
            if config.metrics_directory is not None
            else None
        )
        self.usage = CachedUsageSource(config.usage_source) if config.usage_source else None
        self.started_at = time.time()
        self._background: set[asyncio.Task] = set()
        self.web = Starlette(
            routes=[
                Route("/", lambda request: RedirectResponse("/dashboard")),
                Route("/dashboard", self.dashboard_page),
                Route("/api/report", self.report_json),
                Route("/metrics", self.metrics),
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
        # The estate is known before the first callback is answered (its first list).
        await self.directory.refresh_async()
        refresher = asyncio.ensure_future(self._refresh_periodically())
        syncer = asyncio.ensure_future(self._sync_metrics_periodically())
        log.info(
            "collector ready: POST %s, database %s, %d accounts of the estate known",
            self.config.status_path,
            describe_url(self.config.database_url),
            self.directory.size,
        )
        try:
            yield
        finally:
            for task in (refresher, syncer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for task in list(self._background):
                with contextlib.suppress(Exception):
                    await task
            # In-flight requests have been answered by now; commit whatever is still queued.
            await self.writer.aclose()
            if self.shared_metrics is not None:
                # The last answers' counts, before this worker's files are left to the others.
                await asyncio.to_thread(self.shared_metrics.sync, self._snapshot())
                self.shared_metrics.close()
            self.writer.engine.dispose()
            self.reader_engine.dispose()

    async def _sync_metrics_periodically(self) -> None:
        if self.shared_metrics is None:
            return
        while True:
            await asyncio.sleep(SYNC_INTERVAL_S)
            try:
                await asyncio.to_thread(self.shared_metrics.sync, self._snapshot())
            except Exception as error:  # the next second tries again; serving goes on
                log.warning("metrics not shared with the other workers: %s", error)

    async def _refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.directory.refresh_interval)
            await self.directory.refresh_async()

    def _store_friendly_names(self, accounts: list[EstateAccount]) -> None:
        """Keep the estate's FriendlyNames in the database for offline reports."""
        names = {a.sid: a.friendly_name for a in accounts if a.friendly_name}
        # Through the writers' engine (BEGIN IMMEDIATE on SQLite): with several workers listing
        # at once, a deferred read-then-write transaction fails at once (SQLITE_BUSY) where
        # this one waits its turn at the write lock.
        task = asyncio.ensure_future(
            asyncio.to_thread(save_friendly_names, self.writer.engine, names)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    def current_names(self) -> NameMap:
        return self.names.current().with_friendly_names(self.directory.friendly_names())

    # --- Starlette routes -------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        """The counters as they are now, copied on the event loop (it goes on changing its own)."""
        counters = self.receiver.counters
        return Snapshot(
            answers=counters.answers.copy(),
            refusals=counters.rejections.copy(),
            tally=dict(self.receiver.metrics.tally),
            latency=self.receiver.metrics.latency.snapshot(),
            known_accounts=self.directory.size,
            twilio_requests={
                "account_list": self.directory.list_calls,
                "account_fetch": self.checker.reads,
            },
            connections_cut_off=self.refusal_budget.cut_off,
        )

    async def metrics(self, request: Request) -> Response:
        snapshot = self._snapshot()
        if self.shared_metrics is None:
            page = await asyncio.to_thread(self.exporter.render, snapshot)
        else:
            # This worker's counts up to now, the others' as of their last sync (< 1 s).
            shared = self.shared_metrics
            await asyncio.to_thread(shared.sync, snapshot)
            page = await asyncio.to_thread(render_merged, shared.directory)
        return Response(page, media_type="text/plain; version=0.0.4; charset=utf-8")

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
                "refusal_queue_peak": self.receiver.refusals.most_waiting,
                "refusal_budget": {
                    "clients": len(self.refusal_budget),
                    "connections_cut_off": self.refusal_budget.cut_off,
                    "connections_held": self.refusal_budget.held,
                },
                "estate": {
                    "known_accounts": self.directory.size,
                    "account_lists": self.directory.list_calls,
                    "failed_lists": self.directory.failed_refreshes,
                    "token_reads": self.checker.reads,
                },
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

    def _query(self, request: Request) -> tuple[Grouping, ReportFilter]:
        requested = request.query_params.get("by", "account")
        by: Grouping = next((known for known in GROUPINGS if known == requested), "account")
        filters = ReportFilter(
            account_sid=request.query_params.get("account") or None,
            messaging_service_sid=request.query_params.get("service") or None,
            sender=request.query_params.get("sender") or None,
            day=request.query_params.get("day") or None,
        )
        return by, filters

    async def report_json(self, request: Request) -> JSONResponse:
        by, filters = self._query(request)
        report = await asyncio.to_thread(
            build_report, self.reader_engine, by, filters, self.usage, self.current_names()
        )
        return JSONResponse(report.to_dict())

    async def dashboard_page(self, request: Request) -> HTMLResponse:
        by, filters = self._query(request)
        page = await asyncio.to_thread(
            dashboard.render_page, self.reader_engine, by, filters, self.usage, self.current_names()
        )
        return HTMLResponse(page)


def build_app(config: CollectorConfig) -> CollectorApp:
    return CollectorApp(config)


def _log_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("FriendlyNames not stored: %s", task.exception())
