"""The receivers the collector load test measures, each served in its own uvicorn process
(`python -m bench.collector_load serve RECEIVER DATABASE_URL PORT`)."""

from __future__ import annotations

import json
import os

from twilio.request_validator import RequestValidator

from bench.collector_load_shape import DATABASE_ENV, STATUS_PATH, TOKENS_ENV


def _naive_app(database_url: str, threaded: bool):
    """A receiver as one would first write it: Starlette, one transaction per request."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from collector.events import MalformedCallback, account_sid_of, parse_form, status_event_from
    from collector.storage.database import create_database_engine
    from collector.storage.migrations import migrate
    from collector.storage.writes import store_events

    migrate(database_url)
    engine = create_database_engine(database_url, sqlite_begin="IMMEDIATE")
    validators = {sid: RequestValidator(token) for sid, token in _tokens().items()}

    def commit(event) -> None:
        with engine.begin() as connection:
            store_events(connection, [event])

    async def status_callback(request: Request) -> Response:
        try:
            params = parse_form(await request.body())
            validator = validators.get(account_sid_of(params))
            signature = request.headers.get("x-twilio-signature", "")
            if validator is None or not validator.validate(str(request.url), params, signature):
                return Response(status_code=403)
            event = status_event_from(params)
        except MalformedCallback:
            return Response(status_code=400)
        if threaded:
            await run_in_threadpool(commit, event)
        else:
            commit(event)
        return Response(status_code=200)

    async def health(request: Request) -> Response:
        # Which worker process answered: the bench waits until each of them has.
        return Response(json.dumps({"pid": os.getpid()}), media_type="application/json")

    return Starlette(
        routes=[
            Route(STATUS_PATH, status_callback, methods=["POST"]),
            Route("/healthz", health),
        ]
    )


def _group_commit_app(database_url: str):
    from collector.app import CollectorConfig, build_app
    from collector.signatures import StaticTokenSource

    return build_app(
        CollectorConfig(database_url=database_url, token_source=StaticTokenSource(_tokens()))
    )


def _floor_app():
    """The HTTP stack alone: reads the body and answers 200, storing nothing. Not a receiver:
    the ceiling that uvicorn and this load generator allow on this machine."""

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        # `/healthz` names the worker process (the bench waits until each has answered).
        body = json.dumps({"pid": os.getpid()}).encode() if scope["path"] == "/healthz" else b""
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def group_commit_app_from_environment():
    """The collector as `serve --workers N` builds it in each worker process (metrics shared
    through PROMETHEUS_MULTIPROC_DIR, a worker that stops with its supervisor)."""
    from collector.app import CollectorConfig, build_app
    from collector.shared_metrics import multiprocess_directory
    from collector.signatures import StaticTokenSource
    from collector.workers import exit_with_parent

    exit_with_parent()
    _tune_worker()
    return build_app(
        CollectorConfig(
            database_url=os.environ[DATABASE_ENV],
            token_source=StaticTokenSource(_tokens()),
            metrics_directory=multiprocess_directory(),
        )
    )


def naive_inline_app_from_environment():
    _tune_worker()
    return _naive_app(os.environ[DATABASE_ENV], threaded=False)


def naive_threads_app_from_environment():
    _tune_worker()
    return _naive_app(os.environ[DATABASE_ENV], threaded=True)


def _tune_worker() -> None:
    """A worker process is a fresh interpreter: the serving settings again, as in `serve`."""
    from collector.__main__ import tune_for_serving

    tune_for_serving()


def floor_app_from_environment():
    return _floor_app()


_FACTORIES = {
    "http-floor": "floor_app_from_environment",
    "group-commit": "group_commit_app_from_environment",
    "naive-inline": "naive_inline_app_from_environment",
    "naive-threads": "naive_threads_app_from_environment",
}


def _tokens() -> dict[str, str]:
    return json.loads(os.environ[TOKENS_ENV])


def serve(receiver: str, database_url: str, port: int, workers: int = 1) -> None:
    """One receiver on `port`; with `workers` > 1, in that many uvicorn worker processes (the
    collector through `collector.workers.run_workers`, as `serve --workers N` runs it)."""
    import uvicorn

    from collector.__main__ import tune_for_serving
    from collector.workers import run_workers

    tune_for_serving()  # as `python -m collector serve` does, for every receiver alike

    # The options `python -m collector serve` uses.
    options = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
    }
    if receiver == "group-commit":
        # As `serve` runs it: uvicorn's protocol behind the refusal budget's gate, which costs
        # nothing per request while no client has been refused.
        options["http"] = "collector.gate:GatedHttpProtocol"
    if workers > 1 and receiver in _FACTORIES:
        os.environ[DATABASE_ENV] = database_url
        factory = f"bench.collector_load_receivers:{_FACTORIES[receiver]}"
        if receiver == "group-commit":
            run_workers(factory, workers, options)
        else:
            if receiver != "http-floor":
                from collector.storage.migrations import migrate

                migrate(database_url)  # first: the N workers then find the schema in place
            uvicorn.run(factory, factory=True, workers=workers, **options)
        return
    if receiver == "http-floor":
        app = _floor_app()
    elif receiver == "group-commit":
        app = _group_commit_app(database_url)
    else:
        app = _naive_app(database_url, threaded=receiver == "naive-threads")
    uvicorn.run(app, **options)
