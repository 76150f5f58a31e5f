"""`python -m collector serve | report | check | export | migrate | wait`.

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
from pathlib import Path

from sqlalchemy import Engine, func, select

from collector.accounts import DEFAULT_REFRESH_INTERVAL_S
from collector.alerts import CHECK_GROUPINGS, CheckError, load_check_config, run_check
from collector.app import DEFAULT_STATUS_PATH, CollectorConfig, build_app
from collector.export import EXPORT_FORMATS, export_events
from collector.metrics import DEFAULT_TOP_TENANTS
from collector.names import NAMES_ENV, NameMap, NameMapFiles, name_files_from_environment
from collector.peers import (
    DEFAULT_CUT_OFF_HOLD_S,
    DEFAULT_MAX_HELD,
    DEFAULT_REFUSAL_BURST,
    DEFAULT_REFUSALS_PER_SECOND,
    BudgetSettings,
)
from collector.reports import FORMATS, GROUPINGS, ReportFilter, build_report, render
from collector.statuses import FINAL_STATUSES
from collector.storage.account_names import load_friendly_names
from collector.storage.database import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    create_database_engine,
    describe_url,
)
from collector.storage.migrations import (
    LATEST_VERSION,
    SchemaTooNew,
    current_version,
    downgrade,
    migrate,
)
from collector.storage.schema import messages, status_events
from collector.storage.writer import WRITER_SWITCH_INTERVAL_S
from collector.workers import default_workers, run_workers

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


def _add_names(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--names",
        metavar="FILE",
        action="append",
        type=Path,
        help="name map: a file written by `pulumi stack output --json` (repeat for several "
        f"stacks; default: ${NAMES_ENV}, {os.pathsep}-separated)",
    )


def _name_files(args: argparse.Namespace) -> list[Path]:
    return list(args.names) if args.names else name_files_from_environment()


def _names(args: argparse.Namespace, engine: Engine) -> NameMap:
    """The name maps, with the estate's FriendlyNames the serving collector stored."""
    files = NameMapFiles(_name_files(args))
    names = files.current()
    for problem in files.problems:
        print(f"collector: {problem}", file=sys.stderr)
    return names.with_friendly_names(load_friendly_names(engine))


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
        help="worker processes behind one socket, each with its own event loop and writer "
        f"(default 1; this machine has {default_workers()} cores). On SQLite the workers take "
        "turns at its one write lock and answered no more than one; with PostgreSQL they may "
        "help, unmeasured. /metrics covers them all; /healthz and the refusal budget are per "
        "worker (collector/README.md)",
    )
    serve.add_argument(
        "--allow-list",
        metavar="FILE",
        type=Path,
        help="account SIDs accepted besides the parent's subaccounts (one a line)",
    )
    serve.add_argument(
        "--accounts-refresh",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_REFRESH_INTERVAL_S,
        help="how often the parent's subaccount list is read (default: once a minute)",
    )
    serve.add_argument(
        "--metrics-top-tenants",
        metavar="N",
        type=int,
        default=DEFAULT_TOP_TENANTS,
        help="tenants with a label of their own on /metrics; the others are 'other'",
    )
    serve.add_argument(
        "--refusals-per-second",
        metavar="RATE",
        type=float,
        default=DEFAULT_REFUSALS_PER_SECOND,
        help="refused callbacks (400/403) a client earns back per second; a client that has "
        "spent its budget gets its connections reset unread until it earns one back "
        f"(default {DEFAULT_REFUSALS_PER_SECOND:g}; 0: no budget)",
    )
    serve.add_argument(
        "--refusal-burst",
        metavar="N",
        type=int,
        default=DEFAULT_REFUSAL_BURST,
        help=f"refusals a client may earn at once (default {DEFAULT_REFUSAL_BURST})",
    )
    serve.add_argument(
        "--cut-off-hold",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_CUT_OFF_HOLD_S,
        help="how long a cut-off connection is held unread before its reset, at most "
        f"{DEFAULT_MAX_HELD} at a time (default {DEFAULT_CUT_OFF_HOLD_S:g}; 0: reset at once)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="behind a proxy: its addresses (comma-separated, CIDR or *); the refusal budget "
        "then counts the client named by its X-Forwarded-For, and the proxy's own connections "
        "are never cut off. Without it, X-Forwarded-* headers are ignored",
    )
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--access-log", action="store_true")
    _add_db(serve)
    _add_names(serve)

    report = commands.add_parser("report", help="delivery report")
    report.add_argument("--by", choices=GROUPINGS, default="account")
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument("--usage", action="store_true", help="add spend from Usage Records")
    report.add_argument("--account", help="only this subaccount SID")
    report.add_argument("--service", help="only this messaging service SID")
    report.add_argument("--sender", help="only this sender")
    report.add_argument("--day", help="only this UTC day (YYYY-MM-DD)")
    _add_db(report)
    _add_names(report)

    check = commands.add_parser(
        "check", help="exit 1 naming the groups whose delivery rate is below a threshold"
    )
    check.add_argument("--min-delivery-rate", type=float, metavar="PERCENT")
    check.add_argument("--window", metavar="DURATION", help="e.g. 15m, 1h, 1d (default 1h)")
    check.add_argument("--by", choices=CHECK_GROUPINGS)
    check.add_argument("--min-messages", type=int, metavar="N", help="settled, to be judged")
    check.add_argument("--config", type=Path, metavar="FILE", help="thresholds (YAML or JSON)")
    check.add_argument("--format", choices=("text", "json"), default="text")
    _add_db(check)
    _add_names(check)

    export = commands.add_parser("export", help="dump every stored callback")
    export.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    _add_db(export)
    _add_names(export)

    migrate_cmd = commands.add_parser(
        "migrate", help="bring the database schema up to date (or to --to VERSION, up or down)"
    )
    migrate_cmd.add_argument(
        "--to",
        type=int,
        metavar="VERSION",
        help="schema version to go to, down included (0: drop the collector's tables and rows)",
    )
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

    from collector.signatures import TwilioTokenSource
    from collector.usage import TwilioUsageSource

    budget = BudgetSettings(
        per_second=args.refusals_per_second,
        burst=args.refusal_burst,
        hold_seconds=args.cut_off_hold,
    )
    if budget.problem() is not None:
        print(f"collector: {budget.problem()}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("collector: --workers must be at least 1", file=sys.stderr)
        return 2
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
        # uvicorn's HTTP protocol behind the refusal budget's gate (collector.gate).
        "http": "collector.gate:GatedHttpProtocol",
        # Twilio's signature covers the URL it requested; that comes from --public-url, never
        # from X-Forwarded-* headers (and skipping that middleware is cheaper per request).
        # A trusted proxy's X-Forwarded-For names the client for the refusal budget.
        "proxy_headers": args.forwarded_allow_ips is not None,
        **(
            {"forwarded_allow_ips": args.forwarded_allow_ips}
            if args.forwarded_allow_ips is not None
            else {}
        ),
        "server_header": False,
        # Lets in-flight callbacks finish (they wait for their commit) on SIGTERM/SIGINT.
        "timeout_graceful_shutdown": 30,
    }
    tune_for_serving()
    if args.accounts_refresh < 1:
        print("collector: --accounts-refresh must be at least 1 second", file=sys.stderr)
        return 2
    if args.workers > 1:
        from collector.worker_app import (
            ACCOUNTS_REFRESH_ENV,
            ALLOW_LIST_ENV,
            PUBLIC_URL_ENV,
            STATUS_PATH_ENV,
            TOP_TENANTS_ENV,
            USAGE_ENV,
        )

        # Worker processes are started by uvicorn and build their app from the environment.
        os.environ[ALLOW_LIST_ENV] = str(args.allow_list or "")
        os.environ[ACCOUNTS_REFRESH_ENV] = str(args.accounts_refresh)
        os.environ[TOP_TENANTS_ENV] = str(args.metrics_top_tenants)
        os.environ.update(budget.environment())
        os.environ[NAMES_ENV] = os.pathsep.join(map(str, _name_files(args)))
        os.environ[DATABASE_URL_ENV] = database_url
        os.environ[STATUS_PATH_ENV] = args.path
        os.environ[PUBLIC_URL_ENV] = args.public_url or ""
        os.environ[USAGE_ENV] = "0" if args.no_usage else "1"
        return run_workers("collector.worker_app:app_from_environment", args.workers, options)
    config = CollectorConfig(
        database_url=database_url,
        token_source=token_source,
        status_path=args.path,
        public_url=args.public_url,
        usage_source=None if args.no_usage else TwilioUsageSource(token_source.session),
        names_files=tuple(_name_files(args)),
        allow_list=args.allow_list,
        accounts_refresh_s=args.accounts_refresh,
        metrics_top_tenants=args.metrics_top_tenants,
        refusal_budget=budget,
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
        names = _names(args, engine)
        sys.stdout.write(render(build_report(engine, args.by, filters, usage, names), args.format))
    finally:
        engine.dispose()
    return 0


def check(args: argparse.Namespace) -> int:
    from collector.alerts import render_json, render_text

    try:
        config = load_check_config(
            args.config,
            {
                "min_delivery_rate": args.min_delivery_rate,
                "window": args.window,
                "by": args.by,
                "min_messages": args.min_messages,
            },
        )
    except CheckError as error:
        print(f"collector check: {error}", file=sys.stderr)
        return 2
    url = _database_url(args)
    migrate(url)
    engine = create_database_engine(url)
    try:
        result = run_check(engine, config, _names(args, engine))
    finally:
        engine.dispose()
    sys.stdout.write(render_json(result) if args.format == "json" else render_text(result))
    return 0 if result.ok else 1


def export(args: argparse.Namespace) -> int:
    url = _database_url(args)
    migrate(url)
    engine = create_database_engine(url)
    try:
        names = _names(args, engine)
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = export_events(engine, args.format, out, names)
        else:
            count = export_events(engine, args.format, sys.stdout, names)
    finally:
        engine.dispose()
    print(f"exported {count} events", file=sys.stderr)
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    url = _database_url(args)
    if args.to is not None and not 0 <= args.to <= LATEST_VERSION:
        print(f"--to: no schema version {args.to} (0 to {LATEST_VERSION})", file=sys.stderr)
        return 2
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            version = current_version(connection)
    finally:
        engine.dispose()
    if args.to is not None and args.to < version:
        reverted = downgrade(url, target=args.to)
        print(f"{describe_url(url)}: migrations reverted: {', '.join(map(str, reverted))}")
        return 0
    applied = migrate(url) if args.to is None else migrate(url, target=args.to)
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
    "check": check,
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
