"""The collector's ASGI application.

`POST <status path>` is the status-callback receiver (`collector.receiver`). It is served by a
small ASGI handler of its own, ahead of Starlette's router, and under `serve` by the
collector's HTTP protocol (`collector.http_protocol`), which answers it without an ASGI task:
it is the one route under load. Everything else (the dashboard, the JSON report, health,
metrics) is ordinary Starlette.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
from starlette.types import Receive, Scope, Send

from collector import dashboard
from collector.accounts import DEFAULT_REFRESH_INTERVAL_S, AccountDirectory, EstateAccount
from collector.metrics import DEFAULT_TOP_TENANTS, MetricsExporter, Snapshot
from collector.names import NameMap, NameMapFiles
from collector.receiver import StatusCallbackReceiver
from collector.reports import GROUPINGS, Grouping, ReportFilter, build_report
from collector.signatures import SignatureChecker, TokenSource
from collector.storage.account_names import save_friendly_names
from collector.storage.database import create_database_engine, describe_url
from collector.storage.migrations import migrate
from collector.storage.writer import GroupCommitWriter
from collector.usage import CachedUsageSource, UsageSource

log = logging.getLogger("collector")

DEFAULT_STATUS_PATH = "/twilio/status"


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
        self.receiver = StatusCallbackReceiver(self.checker, self.writer, config.public_url)
        self.exporter = MetricsExporter(self.current_names, top_tenants=config.metrics_top_tenants)
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
        log.info(
            "collector ready: POST %s, database %s, %d accounts of the estate known",
            self.config.status_path,
            describe_url(self.config.database_url),
            self.directory.size,
        )
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            for task in list(self._background):
                with contextlib.suppress(Exception):
                    await task
            # In-flight requests have been answered by now; commit whatever is still queued.
            await self.writer.aclose()
            self.writer.engine.dispose()
            self.reader_engine.dispose()

    async def _refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.directory.refresh_interval)
            await self.directory.refresh_async()

    def _store_friendly_names(self, accounts: list[EstateAccount]) -> None:
        """Keep the estate's FriendlyNames in the database for offline reports."""
        names = {a.sid: a.friendly_name for a in accounts if a.friendly_name}
        task = asyncio.ensure_future(
            asyncio.to_thread(save_friendly_names, self.reader_engine, names)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    def current_names(self) -> NameMap:
        return self.names.current().with_friendly_names(self.directory.friendly_names())

    # --- Starlette routes -------------------------------------------------------------------

    async def metrics(self, request: Request) -> Response:
        counters = self.receiver.counters
        snapshot = Snapshot(
            answers=counters.answers.copy(),
            refusals=counters.rejections.copy(),
            tally=dict(self.receiver.metrics.tally),
            latency=self.receiver.metrics.latency.snapshot(),
            known_accounts=self.directory.size,
            twilio_requests={
                "account_list": self.directory.list_calls,
                "account_fetch": self.checker.reads,
            },
        )
        page = await asyncio.to_thread(self.exporter.render, snapshot)
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


# `serve --workers N` starts N processes that each build the app from the environment.
STATUS_PATH_ENV = "COLLECTOR_STATUS_PATH"
PUBLIC_URL_ENV = "COLLECTOR_PUBLIC_URL"
USAGE_ENV = "COLLECTOR_USAGE"
ALLOW_LIST_ENV = "COLLECTOR_ALLOW_LIST"
ACCOUNTS_REFRESH_ENV = "COLLECTOR_ACCOUNTS_REFRESH"
TOP_TENANTS_ENV = "COLLECTOR_METRICS_TOP_TENANTS"


def app_from_environment() -> CollectorApp:
    """The app as `serve` configures it, from COLLECTOR_* variables (uvicorn's worker
    processes import this factory by name)."""
    from collector.names import name_files_from_environment
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
            names_files=tuple(name_files_from_environment()),
            allow_list=Path(os.environ[ALLOW_LIST_ENV]) if os.environ.get(ALLOW_LIST_ENV) else None,
            accounts_refresh_s=float(
                os.environ.get(ACCOUNTS_REFRESH_ENV) or DEFAULT_REFRESH_INTERVAL_S
            ),
            metrics_top_tenants=int(os.environ.get(TOP_TENANTS_ENV) or DEFAULT_TOP_TENANTS),
        )
    )
