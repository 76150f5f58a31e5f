"""`python -m fleet`: the production customer groups, one command for all of them.

    python -m fleet add-customer KEY --name "Display Name" [--area-code 415]
    python -m fleet preview|up|refresh [--groups prod-g01,prod-g02] [--concurrency N] [--all]
                                       [--skip-preview] [--base REF]
    python -m fleet status
    python -m fleet changed --base REF [--json]

Exit status: 0 when every group succeeded (or had nothing to do); 1 naming the failed groups
and why; 2 when the fleet itself could not start (one line); 130 after Ctrl-C, every group
left re-runnable (`fleet up` again resumes the ones that did not finish).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from fleet.catalog import (
    CustomerSpec,
    FleetError,
    FleetSettings,
    Group,
    add_customer,
    discover_groups,
    load_settings,
)
from fleet.inputs import changed_groups, files_changed_since

ROOT = Path(__file__).resolve().parents[1]

EXIT_FAILED_GROUPS = 1
EXIT_CANNOT_START = 2
EXIT_INTERRUPTED = 130


def say(message: str) -> None:
    print(f"fleet: {message}", file=sys.stderr, flush=True)


def project_dir_of(argument: Path | None) -> Path:
    if argument is not None:
        return argument.resolve()
    here = Path.cwd()
    return here if (here / "Pulumi.yaml").is_file() and (here / "fleet.yaml").is_file() else ROOT


def select_groups(settings: FleetSettings, wanted: str | None) -> list[Group]:
    groups = discover_groups(settings)
    if not wanted:
        return groups
    by_name = {group.name: group for group in groups}
    chosen = []
    for name in (part.strip() for part in wanted.split(",")):
        if not name:
            continue
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise FleetError(f"--groups: no group '{name}' (Pulumi.{name}.yaml); groups: {known}")
        chosen.append(by_name[name])
    return chosen


def run_operation(settings: FleetSettings, arguments: argparse.Namespace) -> int:
    # The Automation API is imported only by the commands that run Pulumi: `changed` and
    # `add-customer` stay quick.
    from fleet.command import SessionPulumiCommand
    from fleet.environment import fleet_environment
    from fleet.progress import FAILED, INTERRUPTED, NOT_STARTED, Display, summary_table
    from fleet.runner import FleetRunner, RunOptions, default_concurrency

    groups = select_groups(settings, arguments.groups)
    if not groups:
        say("no groups to run (none found, or --groups named none)")
        return 0
    environment = fleet_environment(settings.project_dir, arguments.parent_in_flight)
    for note in environment.notes:
        say(note)
    # The gate before any change is on unless asked off: a rename previews as the update it
    # is (tools/provider_host/provider_previews.py), so a preview fails only on a real problem.
    command = SessionPulumiCommand(preview_first=not getattr(arguments, "skip_preview", False))
    concurrency = max(1, arguments.concurrency or default_concurrency())
    base = getattr(arguments, "base", None)
    options = RunOptions(
        arguments.command,
        concurrency,
        getattr(arguments, "all", False),
        arguments.parallel,
        base,
        tuple(files_changed_since(settings.project_dir, base)) if base else (),
    )
    runner = FleetRunner(settings, groups, options, environment, command)
    share = environment.for_groups(min(concurrency, len(groups)))["TLZ_PARENT_IN_FLIGHT"]
    say(
        f"{arguments.command} of {len(groups)} group(s), {concurrency} at a time; state "
        f"{redacted(environment.backend_url)}; parent account: {environment.parent_in_flight} "
        f"requests in flight, {share} per running group"
    )
    displays: list[Display] = []

    def on_signal(signum: int, frame: object) -> None:
        told = command.interrupt()
        again = command.interrupts_sent > 1
        text = (
            "stopping now (second Ctrl-C): the stopped groups keep a lock; `fleet up` resumes them"
            if again
            else f"stopping: {told} running group(s) finish their in-flight steps and save their "
            "state; no new group starts (Ctrl-C again to stop at once)"
        )
        (displays[0].say if displays else say)(f"fleet: {text}")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:

        def make_display(outcomes):
            display = Display(arguments.command, outcomes)
            displays.append(display)
            return display

        outcomes = runner.run(make_display)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(summary_table(outcomes))
    failed = [o for o in outcomes if o.state == FAILED]
    stopped = [o for o in outcomes if o.state in (INTERRUPTED, NOT_STARTED)]
    for outcome in failed:
        say(f"{outcome.group} failed: {outcome.note}")
    if failed:
        say("failed groups: " + ", ".join(o.group for o in failed))
    if command.stopping:
        say(
            f"stopped by Ctrl-C: {len(stopped)} group(s) did not finish "
            f"({', '.join(o.group for o in stopped) or 'none'}); run the same command again to "
            "resume them"
        )
        return EXIT_INTERRUPTED
    return EXIT_FAILED_GROUPS if failed else 0


def redacted(url: str) -> str:
    from fleet.resume import resume_stack

    return str(resume_stack().redacted(url))


def show_status(settings: FleetSettings, arguments: argparse.Namespace) -> int:
    from fleet.command import SessionPulumiCommand
    from fleet.environment import fleet_environment
    from fleet.runner import default_concurrency
    from fleet.status import group_statuses, status_table

    groups = select_groups(settings, arguments.groups)
    environment = fleet_environment(settings.project_dir, None)
    statuses = group_statuses(
        settings, groups, environment, SessionPulumiCommand(), default_concurrency() * 2
    )
    if arguments.json:
        print(json.dumps([vars(s) for s in statuses], indent=2))
    else:
        print(status_table(statuses) if statuses else "no groups")
    return 0


def show_changed(settings: FleetSettings, arguments: argparse.Namespace) -> int:
    chosen, removed = changed_groups(settings, arguments.base)
    if arguments.json:
        # A GitHub Actions matrix: `strategy.matrix: ${{ fromJSON(...) }}`, one job per group.
        matrix = {"include": [{"group": c.name, "reason": c.reason} for c in chosen]}
        print(json.dumps(matrix))
    else:
        for change in chosen:
            print(f"{change.name}\t{change.reason}")
        if not chosen:
            print(f"no group's inputs differ from {arguments.base}")
    for name in removed:
        say(f"{name}: its stack file was removed since {arguments.base} (nothing to preview)")
    return 0


def add(settings: FleetSettings, arguments: argparse.Namespace) -> int:
    spec = CustomerSpec(arguments.key, arguments.name, arguments.area_code)
    group, new = add_customer(settings, spec)
    count = len(group.customer_keys())
    print(group.name)
    state = "a new group" if new else f"now {count} customers"
    say(f"customer '{spec.key}' added to {group.name} ({group.path.name}, {state})")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m fleet",
        description="Production customers in groups of stacks: add customers, and preview, "
        "up, refresh or check every group with one command.",
    )
    main.add_argument("--project-dir", type=Path, help="the project (default: the checkout)")
    commands = main.add_subparsers(dest="command", required=True)
    adding = commands.add_parser("add-customer", help="add a customer; prints its group")
    adding.add_argument("key", help="immutable customer key, e.g. bayside-dental")
    adding.add_argument("--name", required=True, help="display name, e.g. 'Bayside Dental'")
    adding.add_argument("--area-code", default="415", help="US area code of its numbers")
    for name, text in (
        ("preview", "preview every group with the policy pack (no Twilio call)"),
        ("up", "bring every group to its declared state (converged groups are skipped)"),
        ("refresh", "read every deployed group's objects back from Twilio"),
    ):
        operation = commands.add_parser(name, help=text)
        operation.add_argument("--groups", help="comma-separated group names (default: all)")
        operation.add_argument(
            "--concurrency", type=int, help="groups at once (default: one per core)"
        )
        operation.add_argument(
            "--parent-in-flight",
            type=int,
            help="the parent account's requests in flight, split across running groups "
            "(default: $TLZ_FLEET_PARENT_IN_FLIGHT or 32)",
        )
        operation.add_argument(
            "--parallel", type=int, default=64, help="resource operations at once per group"
        )
        if name in ("preview", "up"):
            operation.add_argument(
                "--base",
                help="git ref the deployed groups were converged from (e.g. HEAD): run only the "
                "customers added or edited since, when that is provably the same as a full run "
                "(else a full run, and the note says why)",
            )
        if name == "up":
            operation.add_argument(
                "--all", action="store_true", help="also run groups converged with these inputs"
            )
            gate = operation.add_mutually_exclusive_group()
            gate.add_argument(
                "--preview-first",
                action="store_true",
                help="preview each group with the pack before its steps (as `pulumi up --yes`): "
                "a mandatory violation changes nothing (the default)",
            )
            gate.add_argument(
                "--skip-preview",
                action="store_true",
                help="no preview first (the Automation API's up): the pack runs after the "
                "steps; for when a preview of these very inputs already passed",
            )
    status = commands.add_parser("status", help="each group's state, from the backend")
    status.add_argument("--groups", help="comma-separated group names (default: all)")
    status.add_argument("--json", action="store_true")
    changed = commands.add_parser("changed", help="groups whose inputs differ from a git ref")
    changed.add_argument("--base", required=True, help="git ref, e.g. origin/main")
    changed.add_argument("--json", action="store_true", help="a GitHub Actions matrix")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        settings = load_settings(project_dir_of(arguments.project_dir))
        if arguments.command == "add-customer":
            return add(settings, arguments)
        if arguments.command == "changed":
            return show_changed(settings, arguments)
        if arguments.command == "status":
            return show_status(settings, arguments)
        return run_operation(settings, arguments)
    except FleetError as error:
        say(str(error))
        return EXIT_CANNOT_START


if __name__ == "__main__":
    sys.exit(main())
