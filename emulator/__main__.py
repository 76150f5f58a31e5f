"""`python -m emulator`: serve the local Twilio emulator on 127.0.0.1.

Defaults (emulator/defaults.py): port 4010, database .state/emulator.db, development parent
account ACf00df00df00df00df00df00df00df00d. `--port 0` picks a free port; the start line says
which. The auth token is never printed. `python -m emulator seed legacy|scale --db ...` writes
a ready-made estate into a database instead (emulator/seed.py).
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
from collections.abc import Sequence

import uvicorn

from emulator import defaults
from emulator.app import create_app
from emulator.faults import COMMIT_THEN_FAIL_MODES, RuntimeSettings
from emulator.runtime import EmulatorConfig


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _account_sid(text: str) -> str:
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", text):
        raise argparse.ArgumentTypeError("must be AC followed by 32 hex characters")
    return text


def _auth_token(text: str) -> str:
    if not re.fullmatch(r"[!-~]{8,128}", text):
        raise argparse.ArgumentTypeError("must be 8-128 printable characters without spaces")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Local Twilio API emulator (loopback only). Requests for "
        "https://<domain>.twilio.com/<path> are served at http://127.0.0.1:PORT/<domain>/<path>.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=defaults.DEFAULT_PORT,
        help=f"TCP port on 127.0.0.1 (default {defaults.DEFAULT_PORT}; 0 = any free port)",
    )
    parser.add_argument(
        "--db",
        default=defaults.DEFAULT_DB_PATH,
        help=f"SQLite database path (default {defaults.DEFAULT_DB_PATH})",
    )
    parser.add_argument(
        "--account-sid",
        type=_account_sid,
        default=defaults.DEV_ACCOUNT_SID,
        help="SID of the bootstrap parent account (default: the documented dev SID)",
    )
    parser.add_argument(
        "--auth-token",
        type=_auth_token,
        default=defaults.DEV_AUTH_TOKEN,
        help="auth token of the bootstrap parent account (default: the documented dev token)",
    )
    parser.add_argument(
        "--max-subaccounts",
        type=_positive_int,
        default=defaults.MAX_SUBACCOUNTS,
        help="open subaccounts a parent may have; the next create is refused with 21480 "
        f"(default {defaults.MAX_SUBACCOUNTS}, as Twilio; Twilio support raises it for ISVs)",
    )
    parser.add_argument(
        "--no-default-service",
        action="store_true",
        help="do not give new accounts Twilio's auto-generated default Messaging Service",
    )

    faults = parser.add_argument_group("fault injection")
    faults.add_argument(
        "--fault-429-rate", type=_rate, default=0.0, help="share of requests answered 429"
    )
    faults.add_argument(
        "--fault-retry-after", type=int, default=1, help="Retry-After seconds on 429 (default 1)"
    )
    faults.add_argument(
        "--account-concurrency-limit",
        type=int,
        default=0,
        help="requests one account may have in flight; more get 429 (20429); 0: no cap",
    )
    faults.add_argument(
        "--fault-5xx-rate", type=_rate, default=0.0, help="share answered 500/503 without running"
    )
    faults.add_argument(
        "--fault-commit-then-fail-rate",
        type=_rate,
        default=0.0,
        help="share of writes that commit, then answer 500 or drop the connection",
    )
    faults.add_argument(
        "--fault-commit-then-fail-mode",
        choices=COMMIT_THEN_FAIL_MODES,
        default="mixed",
        help="how a committed write fails: 500, drop, or mixed (default)",
    )
    faults.add_argument(
        "--latency-ms", type=_non_negative, default=0.0, help="added latency per request"
    )
    faults.add_argument(
        "--latency-jitter-ms", type=_non_negative, default=0.0, help="random extra latency, up to"
    )
    faults.add_argument(
        "--eventual-consistency-ms",
        type=_non_negative,
        default=0.0,
        help="reads do not see a new resource for this long after its create",
    )
    faults.add_argument(
        "--fault-path-pattern", default=None, help="regex: faults apply only to matching paths"
    )
    faults.add_argument("--seed", type=int, default=None, help="seed for fault and delivery draws")

    delivery = parser.add_argument_group("message delivery")
    delivery.add_argument(
        "--lifecycle-step-ms",
        type=_non_negative,
        default=defaults.DEFAULT_LIFECYCLE_STEP_MS,
        help=f"time between status transitions (default {defaults.DEFAULT_LIFECYCLE_STEP_MS})",
    )
    delivery.add_argument(
        "--message-failed-rate",
        type=_rate,
        default=defaults.DEFAULT_MESSAGE_FAILED_RATE,
        help="share of messages that end failed",
    )
    delivery.add_argument(
        "--message-undelivered-rate",
        type=_rate,
        default=defaults.DEFAULT_MESSAGE_UNDELIVERED_RATE,
        help="share of messages that end undelivered",
    )
    delivery.add_argument(
        "--callback-attempts",
        type=int,
        default=defaults.DEFAULT_CALLBACK_ATTEMPTS,
        help=f"attempts per status callback (default {defaults.DEFAULT_CALLBACK_ATTEMPTS})",
    )
    delivery.add_argument(
        "--callback-retry-ms",
        type=_non_negative,
        default=defaults.DEFAULT_CALLBACK_RETRY_MS,
        help="pause before the first retry, doubled after each",
    )
    delivery.add_argument(
        "--callback-jitter-ms",
        type=_non_negative,
        default=0.0,
        help="random delay per callback, so callbacks can arrive out of order",
    )

    a2p = parser.add_argument_group("A2P 10DLC registration")
    a2p.add_argument(
        "--registration-step-ms",
        type=_non_negative,
        default=defaults.DEFAULT_REGISTRATION_STEP_MS,
        help="time between automatic review steps of bundles, brands and campaigns"
        f" (default {defaults.DEFAULT_REGISTRATION_STEP_MS})",
    )
    a2p.add_argument(
        "--a2p-gating",
        action="store_true",
        help="messages from US 10DLC numbers without a verified campaign fail with 30034",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    settings = RuntimeSettings(
        rate_429=args.fault_429_rate,
        retry_after_seconds=args.fault_retry_after,
        account_concurrency_limit=args.account_concurrency_limit,
        rate_5xx=args.fault_5xx_rate,
        rate_commit_then_fail=args.fault_commit_then_fail_rate,
        commit_then_fail_mode=args.fault_commit_then_fail_mode,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        eventual_consistency_ms=args.eventual_consistency_ms,
        seed=args.seed,
        path_pattern=args.fault_path_pattern,
        lifecycle_step_ms=args.lifecycle_step_ms,
        message_failed_rate=args.message_failed_rate,
        message_undelivered_rate=args.message_undelivered_rate,
        callback_attempts=args.callback_attempts,
        callback_retry_ms=args.callback_retry_ms,
        callback_jitter_ms=args.callback_jitter_ms,
        registration_step_ms=args.registration_step_ms,
        a2p_gating=args.a2p_gating,
    )
    settings.validate()
    return EmulatorConfig(
        db_path=args.db,
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        default_service=not args.no_default_service,
        settings=settings,
        max_subaccounts=args.max_subaccounts,
    )


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self._announcement = announcement

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self._announcement, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["seed"]:  # `python -m emulator seed legacy|scale`: see emulator/seed.py
        from emulator.seed import main as seed_main

        return seed_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((defaults.DEFAULT_HOST, args.port))
    except OSError as exc:
        print(
            f"emulator: cannot listen on {defaults.DEFAULT_HOST}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    port = listener.getsockname()[1]
    url = f"http://{defaults.DEFAULT_HOST}:{port}"
    announcement = (
        f"Twilio emulator listening on {url} (account {config.account_sid}, db {config.db_path})"
    )
    server = _Server(
        uvicorn.Config(
            create_app(config),
            log_level="warning",
            access_log=False,
            lifespan="on",
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=30,
        ),
        announcement,
    )
    server.run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
