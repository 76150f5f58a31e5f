"""`python -m estate audit`: audit a Twilio account against Twilio's guidance, read-only.

Credentials as the program resolves them: TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN (the parent
account's), else the local emulator at TWILIO_EMULATOR_URL with its development account. The
first line (on stderr) says which. Exit status: 0 clean, 1 findings at or above --fail-on,
2 when the audit could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from twilio.base.exceptions import TwilioException, TwilioRestException

from estate import report
from estate.audit import audit
from estate.config import ConfigError, load_config
from estate.reader import ReadOptions
from twilio_access.credentials import CredentialsError, resolve_parent_credentials


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m estate", description="Read an existing Twilio account (read-only)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    audit_parser = commands.add_parser(
        "audit", help="audit the whole account against Twilio's guidance and the policy pack"
    )
    audit_parser.add_argument("--format", choices=report.FORMATS, default="table")
    audit_parser.add_argument(
        "--fail-on",
        choices=report.FAIL_ON,
        default="mandatory",
        help="exit 1 when a finding at this level or above exists (default mandatory)",
    )
    audit_parser.add_argument(
        "--config",
        default=None,
        help="rule levels and settings in the policy pack's config format, merged over the "
        "audit's defaults (e.g. policies/config/prod.json)",
    )
    audit_parser.add_argument(
        "--concurrency",
        type=_positive,
        default=16,
        help="requests in flight per account, and accounts read at once (default 16)",
    )
    audit_parser.add_argument(
        "--days", type=_positive, default=30, help="window of the parent's sending (default 30)"
    )
    audit_parser.add_argument(
        "--traffic-sample",
        type=_non_negative,
        default=200,
        help="newest messages per account classified by use case (default 200; 0: none)",
    )
    audit_parser.add_argument(
        "--parent-scan",
        type=_non_negative,
        default=10_000,
        help="newest parent messages streamed to name what sent them (default 10000)",
    )
    audit_parser.add_argument(
        "--output", default=None, help="write the report to this file instead of stdout"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        credentials = resolve_parent_credentials({}, os.environ)
    except (ConfigError, CredentialsError) as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    print(credentials.describe(), file=sys.stderr)
    options = ReadOptions(
        concurrency=args.concurrency,
        days=args.days,
        traffic_sample=args.traffic_sample,
        parent_scan=args.parent_scan,
    )
    started = time.monotonic()
    try:
        estate, findings = audit(credentials, options, config)
    except TwilioRestException as error:
        print(
            f"audit: Twilio refused the read: {error.status} (code {error.code}) {error.msg}",
            file=sys.stderr,
        )
        return 2
    except TwilioException as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        where = credentials.emulator_url or "api.twilio.com"
        print(f"audit: cannot reach Twilio at {where}: {error}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    print(
        f"Read {len(estate.accounts)} accounts in {estate.requests} requests, {elapsed:.1f} s.",
        file=sys.stderr,
    )
    output = report.render(estate, findings, args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(output + "\n")
        print(report.summary_line(findings), file=sys.stderr)
    else:
        print(output)
    return report.exit_status(findings, args.fail_on)


if __name__ == "__main__":
    sys.exit(main())
