"""`python -m collector serve | report | export | migrate | wait`.

Credentials, as for the providers: `TWILIO_ACCOUNT_SID` / `TWILIO_AUTH_TOKEN` (the parent
account), else the local emulator at `TWILIO_EMULATOR_URL` with its development credentials.
Database: `--db URL`, else `COLLECTOR_DATABASE_URL`, else `sqlite:///.state/collector.db`.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from collections.abc import Sequence

from sqlalchemy import func, select

from collector.app import DEFAULT_STATUS_PATH, CollectorConfig, build_app
from collector.export import EXPORT_FORMATS, export_events
from collector.reports import FORMATS, GROUPINGS, ReportFilter, build_report, render
from collector.statuses import FINAL_STATUSES
from collector.storage.database import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    create_database_engine,
    describe_url,
)
from collector.storage.migrations import SchemaTooNew, migrate
from collector.storage.schema import messages, status_events
from collector.storage.writer import WRITER_SWITCH_INTERVAL_S

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4020


def _database_url(args: argparse.Namespace) -> str:
    return args.db or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help=f"SQLAlchemy database URL (default: ${DATABASE_URL_ENV} or {DEFAULT_DATABASE_URL})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m collector", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="receive status callbacks; serve the dashboard")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--path", default=DEFAULT_STATUS_PATH, help="status callback path")
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="externally visible base URL (scheme://host[:port][/prefix]) when behind a proxy: "
        "signatures are checked against it",
    )
    serve.add_argument("--no-usage", action="store_true", help="no spend on the dashboard")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes, each with a writer of its own. On SQLite they take turns at "
        "the write lock with smaller batches: on a 2-core host 2 workers answer no more than 1 "
        "(bench/collector_load.py); more pays with PostgreSQL or more cores",
    )
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--access-log", action="store_true")
    _add_db(serve)

    report = commands.add_parser("report", help="delivery report")
    report.add_argument("--by", choices=GROUPINGS, default="account")
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument("--usage", action="store_true", help="add spend from Usage Records")
    report.add_argument("--account", help="only this subaccount SID")
    report.add_argument("--service", help="only this messaging service SID")
    report.add_argument("--sender", help="only this sender")
    report.add_argument("--day", help="only this UTC day (YYYY-MM-DD)")
    _add_db(report)

    export = commands.add_parser("export", help="dump every stored callback")
    export.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    _add_db(export)

    migrate_cmd = commands.add_parser("migrate", help="bring the database schema up to date")
    _add_db(migrate_cmd)

    wait = commands.add_parser(
        "wait", help="wait until N messages are stored and none is still in flight"
    )
    wait.add_argument("--messages", type=int, default=1, help="at least this many messages")
    wait.add_argument("--timeout", type=float, default=60.0, help="seconds (exit 1 after)")
    _add_db(wait)
    return parser


def tune_for_serving() -> None:
    """Process-wide settings for a serving process (not for tests that import the app).

    - The writer thread needs the GIL back after each COMMIT; with the default switch interval
      it could wait up to 5 ms while the event loop was busy (see `collector.storage.writer`).
    - Fewer, cheaper cyclic collections: each callback allocates a few hundred short-lived
      objects, and collecting every 700 allocations cost several percent of a core at 10,000
      callbacks/s. Objects alive at start (modules, the app) are left out of every collection.
    """
    sys.setswitchinterval(WRITER_SWITCH_INTERVAL_S)
    gc.freeze()
    gc.set_threshold(20_000, 50, 50)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from collector.app import PUBLIC_URL_ENV, STATUS_PATH_ENV, USAGE_ENV
    from collector.signatures import TwilioTokenSource
    from collector.usage import TwilioUsageSource

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    token_source = TwilioTokenSource.from_environment()
    print(token_source.session.credentials.describe(), file=sys.stderr, flush=True)
    database_url = _database_url(args)
    print(
        f"collector: status callbacks at http://{args.host}:{args.port}{args.path}, dashboard at "
        f"http://{args.host}:{args.port}/dashboard, database {describe_url(database_url)}, "
        f"{args.workers} worker process{'es' if args.workers > 1 else ''}",
        file=sys.stderr,
        flush=True,
    )
    options = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": args.access_log,
        "lifespan": "on",
        # Twilio's signature covers the URL it requested; that comes from --public-url, never
        # from X-Forwarded-* headers (and skipping that middleware is cheaper per request).
        "proxy_headers": False,
        "server_header": False,
        # Lets in-flight callbacks finish (they wait for their commit) on SIGTERM/SIGINT.
        "timeout_graceful_shutdown": 30,
    }
    tune_for_serving()
    if args.workers > 1:
        # Worker processes are started by uvicorn and build their app from the environment.
        os.environ[DATABASE_URL_ENV] = database_url
        os.environ[STATUS_PATH_ENV] = args.path
        os.environ[PUBLIC_URL_ENV] = args.public_url or ""
        os.environ[USAGE_ENV] = "0" if args.no_usage else "1"
        uvicorn.run(
            "collector.app:app_from_environment", factory=True, workers=args.workers, **options
        )
        return 0
    config = CollectorConfig(
        database_url=database_url,
        token_source=token_source,
        status_path=args.path,
        public_url=args.public_url,
        usage_source=None if args.no_usage else TwilioUsageSource(token_source.session),
    )
    uvicorn.run(build_app(config), **options)
    return 0


def report(args: argparse.Namespace) -> int:
    url = _database_url(args)
    migrate(url)
    usage = None
    if args.usage:
        from collector.usage import TwilioUsageSource

        usage = TwilioUsageSource.from_environment()
    filters = ReportFilter(
        account_sid=args.account,
        messaging_service_sid=args.service,
        sender=args.sender,
        day=args.day,
    )
    engine = create_database_engine(url)
    try:
        sys.stdout.write(render(build_report(engine, args.by, filters, usage), args.format))
    finally:
        engine.dispose()
    return 0


def export(args: argparse.Namespace) -> int:
    url = _database_url(args)
    migrate(url)
    engine = create_database_engine(url)
    try:
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = export_events(engine, args.format, out)
        else:
            count = export_events(engine, args.format, sys.stdout)
    finally:
        engine.dispose()
    print(f"exported {count} events", file=sys.stderr)
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    url = _database_url(args)
    applied = migrate(url)
    done = ", ".join(map(str, applied)) if applied else "none (up to date)"
    print(f"{describe_url(url)}: migrations applied: {done}")
    return 0


def wait(args: argparse.Namespace) -> int:
    url = _database_url(args)
    migrate(url)
    engine = create_database_engine(url)
    deadline = time.monotonic() + args.timeout
    count = in_flight = events = 0
    try:
        while True:
            with engine.connect() as connection:
                count = connection.execute(select(func.count()).select_from(messages)).scalar_one()
                in_flight = connection.execute(
                    select(func.count())
                    .select_from(messages)
                    .where(messages.c.status.not_in(sorted(FINAL_STATUSES)))
                ).scalar_one()
                events = connection.execute(
                    select(func.count()).select_from(status_events)
                ).scalar_one()
            if count >= args.messages and in_flight == 0:
                print(f"{count} messages settled ({events} status callbacks)", file=sys.stderr)
                return 0
            if time.monotonic() >= deadline:
                print(
                    f"timed out: {count} messages stored ({in_flight} in flight), "
                    f"{args.messages} expected",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.2)
    finally:
        engine.dispose()


COMMANDS = {
    "serve": serve,
    "report": report,
    "export": export,
    "migrate": migrate_command,
    "wait": wait,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SchemaTooNew as error:
        print(f"collector: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
