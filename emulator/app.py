"""The Starlette application: Twilio routes under /<domain>/..., the admin API under /_emulator.

Routing contract: `https://<domain>.twilio.com/<path>` is served at `/<domain>/<path>` (e.g.
`/api/2010-04-01/Accounts.json`, `/messaging/v1/Services`, `/iam/v1/Keys`). Every Twilio route
runs the same pipeline: count it, apply the fault plan (latency, then an injected failure),
authenticate, check key type and restricted-key permission, reach the v2010 account of the
path, run the handler, and possibly fail after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator import (
    a2p_admin,
    a2p_brands,
    a2p_campaigns,
    api_accounts,
    api_addresses,
    api_available_numbers,
    api_keys,
    api_messages,
    api_numbers,
    iam_keys,
    messaging_services,
    trusthub_bundles,
    trusthub_items,
    usage,
)
from emulator.auth import authenticate, basic_username
from emulator.faults import DropConnection, FaultPlan
from emulator.lifecycle import Lifecycle
from emulator.registrations import Registrations
from emulator.runtime import Call, Emulator, EmulatorConfig, Endpoint, Operation
from emulator.store import Store
from emulator.wire import (
    Params,
    TwilioError,
    error_response,
    json_response,
    not_found,
    parse_form,
)

MAX_BODY_BYTES = 1 << 20
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

TWILIO_ENDPOINTS: tuple[Endpoint, ...] = (
    *api_accounts.ENDPOINTS,
    *api_keys.ENDPOINTS,
    *api_available_numbers.ENDPOINTS,
    *api_numbers.ENDPOINTS,
    *api_messages.ENDPOINTS,
    *usage.ENDPOINTS,
    *messaging_services.ENDPOINTS,
    *iam_keys.ENDPOINTS,
    *api_addresses.ENDPOINTS,
    *trusthub_items.ENDPOINTS,
    *trusthub_bundles.ENDPOINTS,
    *a2p_brands.ENDPOINTS,
    *a2p_campaigns.ENDPOINTS,
)


def _origin(request: Request) -> str:
    """scheme://host the client addressed, so v1 absolute URLs keep it on the emulator."""
    host = request.headers.get("host", "")
    if not _HOST.match(host):
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{request.url.scheme}://{host}"


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TwilioError(413, 20001, "The request body is too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TwilioError(413, 20001, "The request body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _injected(kind: str, emulator: Emulator) -> Response:
    if kind == "429":
        return error_response(
            TwilioError(
                429,
                20429,
                "Too Many Requests",
                {"Retry-After": str(emulator.settings.retry_after_seconds)},
            )
        )
    if kind == "503":
        return error_response(TwilioError(503, 20503, "Service Unavailable"))
    return error_response(TwilioError(500, 20500, "Internal Server Error"))


def _over_concurrency(emulator: Emulator) -> Response:
    return error_response(
        TwilioError(
            429,
            20429,
            "Too many concurrent requests",
            {"Retry-After": str(emulator.settings.retry_after_seconds)},
        )
    )


def _twilio_endpoint(
    emulator: Emulator, endpoint: Endpoint
) -> Callable[[Request], Awaitable[Response]]:
    operations = {operation.method: operation for operation in endpoint.operations}
    route_names = {method: f"{method} {endpoint.path}" for method in operations}

    async def handle(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        username = basic_username(request.headers.get("authorization"))
        limit = emulator.settings.account_concurrency_limit
        if limit and emulator.stats.in_flight[username] >= limit:
            # Twilio's concurrency limit: refused at once, not counted as in flight.
            emulator.stats.over_concurrency[username] += 1
            emulator.stats.by_status["429"] += 1
            return _over_concurrency(emulator)
        emulator.stats.request_started(method, username)
        emulator.stats.by_account[request.path_params.get("AccountSid") or username] += 1
        try:
            return await serve(request, method)
        finally:
            emulator.stats.request_finished(username)

    async def serve(request: Request, method: str) -> Response:
        operation = operations[method]
        emulator.stats.by_route[route_names[method]] += 1
        plan = emulator.faults.plan(method, request.url.path)
        if plan.latency_s:
            await asyncio.sleep(plan.latency_s)
        if plan.before is not None:
            emulator.stats.faults[plan.before] += 1
            if plan.before == "drop":
                raise DropConnection
            response = _injected(plan.before, emulator)
        else:
            response = await _run(emulator, operation, request, plan, route_names[method])
        emulator.stats.by_status[str(response.status_code)] += 1
        return response

    return handle


async def _run(
    emulator: Emulator, operation: Operation, request: Request, plan: FaultPlan, route: str
) -> Response:
    try:
        principal = authenticate(emulator.store, request.headers.get("authorization"))
        if operation.account_admin:
            principal.require_account_admin()
        principal.require_permission(operation.permission)
        if operation.method == "POST":
            params = parse_form(await _read_body(request))
        else:
            params = Params(request.query_params.multi_items())
        call = Call(
            emulator=emulator,
            principal=principal,
            params=params,
            path_params=dict(request.path_params),
            method=operation.method,
            path=request.url.path,
            origin=_origin(request),
        )
        account_sid = call.path_params.get("AccountSid")
        if account_sid is not None:
            call.account = call.reach(account_sid)
        status, payload = operation.handler(call)
    except TwilioError as error:
        return error_response(error)
    if plan.after is not None and 200 <= status < 300:
        # The write committed; the caller must not learn it (the "unknown outcome").
        emulator.stats.faults[f"commit_then_{plan.after}"] += 1
        emulator.stats.lost_answers[route] += 1
        if plan.after == "drop":
            raise DropConnection
        return _injected(plan.after, emulator)
    return json_response(status, payload)


# --- admin API (no Twilio auth; loopback only like everything else) ----------------------------


class AdminError(Exception):
    """A refused admin request: answered as {"error": message}, not in Twilio's shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _admin_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _admin_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminError)
    return _admin_error(exc.status, exc.message)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json() if await request.body() else {}
    except ValueError as exc:
        raise AdminError(400, f"body must be JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AdminError(400, "body must be a JSON object")
    return body


def _admin_routes(emulator: Emulator) -> list[Route]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "account_sid": emulator.config.account_sid})

    async def stats(request: Request) -> Response:
        return JSONResponse(emulator.stats.snapshot())

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            changes = await _json_body(request)
            try:
                settings = emulator.settings.updated(changes)
            except ValueError as exc:
                return _admin_error(400, str(exc))
            emulator.faults.apply(settings, reseed="seed" in changes)
            if "seed" in changes and emulator.lifecycle is not None:
                emulator.lifecycle.reseed(settings.seed)
        return JSONResponse(emulator.settings.as_dict())

    async def reset_faults(request: Request) -> Response:
        emulator.faults.reset()
        if emulator.lifecycle is not None:
            emulator.lifecycle.reseed(emulator.settings.seed)
        return JSONResponse(emulator.settings.as_dict())

    def _account(body: dict[str, Any]) -> str:
        account_sid = body.get("account_sid") or emulator.config.account_sid
        if not isinstance(account_sid, str) or emulator.store.get(account_sid, "account") is None:
            raise AdminError(404, f"no account {account_sid!r}")
        return account_sid

    async def short_codes(request: Request) -> Response:
        body = await _json_body(request)
        account_sid = _account(body)
        code = body.get("short_code")
        if code is None:
            code = next(
                str(candidate)
                for candidate in range(20000, 1_000_000)
                if emulator.store.by_unique_key("short_code", str(candidate)) is None
            )
        if not isinstance(code, str) or not re.fullmatch(r"\d{5,6}", code):
            return _admin_error(400, "short_code must be 5 or 6 digits")
        if emulator.store.by_unique_key("short_code", code) is not None:
            return _admin_error(409, f"short code {code} is already provisioned")
        record = api_numbers.provision_short_code(emulator, account_sid, code)
        return JSONResponse(
            {"sid": record.sid, "short_code": code, "account_sid": account_sid}, status_code=201
        )

    async def main_keys(request: Request) -> Response:
        body = await _json_body(request)
        account_sid = _account(body)
        name = body.get("friendly_name", "Main key")
        if not isinstance(name, str):
            return _admin_error(400, "friendly_name must be a string")
        record, secret = api_keys.seed_main_key(emulator, account_sid, name[:64])
        return JSONResponse(
            {"sid": record.sid, "secret": secret, "account_sid": account_sid}, status_code=201
        )

    async def callbacks(request: Request) -> Response:
        events = emulator.store.callback_events(
            message_sid=request.query_params.get("message_sid"),
            state=request.query_params.get("state"),
        )
        return JSONResponse(
            {
                "callbacks": [
                    {
                        "id": e.id,
                        "message_sid": e.message_sid,
                        "account_sid": e.account_sid,
                        "url": e.url,
                        "params": e.params,
                        "idempotency_token": e.idempotency_token,
                        "state": e.state,
                        "attempts": e.attempts,
                        "last_status": e.last_status,
                        "last_error": e.last_error,
                    }
                    for e in events
                ]
            }
        )

    return [
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST"]),
        Route("/_emulator/faults/reset", reset_faults, methods=["POST"]),
        Route("/_emulator/short-codes", short_codes, methods=["POST"]),
        Route("/_emulator/main-keys", main_keys, methods=["POST"]),
        Route("/_emulator/callbacks", callbacks, methods=["GET"]),
    ]


# --- errors for what no route handles ----------------------------------------------------------


def _http_error_handler(emulator: Emulator) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):
            emulator.stats.by_route["unmatched"] += 1
        if exc.status_code == 405:
            headers = dict(exc.headers or {})
            return error_response(TwilioError(405, 20004, "Method not allowed", headers))
        if exc.status_code == 404:
            return error_response(not_found(request.url.path))
        return error_response(TwilioError(exc.status_code, 20001, str(exc.detail)))

    return handle


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Reached only through an emulator bug: answered in Twilio's shape, and the test suite's
    # malformed-input sweep makes sure no input gets here.
    return error_response(TwilioError(500, 20500, "Internal Server Error"))


class EmulatorApp:
    """The ASGI application uvicorn serves: the Starlette app plus connection dropping.

    A DropConnection closes the TCP connection with no answer at all. Uvicorn hands the app its
    per-request cycle's bound `send`, whose transport is the client connection; aborting it is
    what a crashed backend or a cut network looks like to a client.
    """

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except DropConnection:
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is None:
                raise
            transport.abort()
            await asyncio.sleep(0)  # let the server notice the connection is gone


def create_app(config: EmulatorConfig) -> EmulatorApp:
    store = Store(config.db_path)
    emulator = Emulator(config, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        api_accounts.ensure_bootstrap_account(emulator)
        lifecycle = Lifecycle(emulator)
        emulator.lifecycle = lifecycle
        lifecycle.start()
        registrations = Registrations(emulator)
        emulator.registrations = registrations
        registrations.start()
        try:
            yield
        finally:
            registrations.stop()
            await lifecycle.stop()
            store.close()

    routes = [
        Route(
            endpoint.path,
            _twilio_endpoint(emulator, endpoint),
            methods=[operation.method for operation in endpoint.operations],
            name=endpoint.path,
        )
        for endpoint in TWILIO_ENDPOINTS
    ]
    app = Starlette(
        routes=[*routes, *_admin_routes(emulator), *a2p_admin.routes(emulator)],
        exception_handlers={
            AdminError: _admin_error_handler,
            HTTPException: _http_error_handler(emulator),
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    return EmulatorApp(app, emulator)
