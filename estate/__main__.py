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
from pathlib import Path

from twilio.base.exceptions import TwilioException, TwilioRestException

from estate import report, stack_file
from estate.audit import audit
from estate.config import ConfigError, load_config
from estate.discover import discover, groups
from estate.reader import ReadOptions, read_estate
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
    discover_parser = commands.add_parser(
        "discover",
        help="write the account as a stack file that adopts it (Pulumi.<stack>.yaml), read-only",
    )
    discover_parser.add_argument("--stack", required=True, help="stack name of the file")
    discover_parser.add_argument(
        "--force", action="store_true", help="overwrite an existing stack file"
    )
    discover_parser.add_argument(
        "--dir", default=".", help="where to write the file (default: the current directory)"
    )
    discover_parser.add_argument(
        "--concurrency",
        type=_positive,
        default=16,
        help="requests in flight per account, and accounts read at once (default 16)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "discover":
        return discover_command(args)
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


def discover_command(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    single = folder / f"Pulumi.{args.stack}.yaml"
    if single.exists() and not args.force:
        print(f"discover: {single} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    try:
        credentials = resolve_parent_credentials({}, os.environ)
    except CredentialsError as error:
        print(f"discover: {error}", file=sys.stderr)
        return 2
    print(credentials.describe(), file=sys.stderr)
    # The structure only: no traffic sample, no scan of the parent's messages.
    options = ReadOptions(concurrency=args.concurrency, days=1, traffic_sample=0, parent_scan=0)
    started = time.monotonic()
    try:
        estate = read_estate(credentials, options)
    except TwilioRestException as error:
        print(
            f"discover: Twilio refused the read: {error.status} (code {error.code}) {error.msg}",
            file=sys.stderr,
        )
        return 2
    except (TwilioException, OSError) as error:
        print(f"discover: cannot read the account: {error}", file=sys.stderr)
        return 2
    read_seconds = time.monotonic() - started
    found = discover(estate)
    if not found.tenants:
        print(
            "discover: the account has no active subaccount to adopt as a tenant (a stack "
            "declares at least one); nothing was written",
            file=sys.stderr,
        )
        return 2
    try:
        parts = groups(found)
    except ValueError as error:
        print(f"discover: {error}", file=sys.stderr)
        return 2
    source = credentials.emulator_url or f"Twilio account {credentials.account_sid}"
    if len(parts) == 1:
        files = [(single, parts[0], "")]
    else:
        files = [
            (
                folder / f"Pulumi.{args.stack}-g{index:02d}.yaml",
                tenants,
                f"Group {index} of {len(parts)}: the estate is larger than one stack's config "
                "can hold (128 KiB), so it is split into stacks of whole tenants.",
            )
            for index, tenants in enumerate(parts, start=1)
        ]
    existing = [str(path) for path, _, _ in files if path.exists()]
    if existing and not args.force:
        print(f"discover: {existing[0]} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    for index, (path, tenants, group) in enumerate(files):
        stack = path.name[len("Pulumi.") : -len(".yaml")]
        text = stack_file.render(
            found, tenants, stack=stack, source=source, group=group, estate_wide=index == 0
        )
        stack_file.write(path, text, force=True)
    counts = found.counts()
    print(
        f"Wrote {', '.join(str(path) for path, _, _ in files)}: {counts}; "
        f"{len(found.left_out)} objects left out (listed at the top of the file). Read "
        f"{len(estate.accounts)} accounts in {estate.requests} requests, {read_seconds:.1f} s; "
        f"{time.monotonic() - started:.1f} s in all.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
