"""`python -m architecture show <stack>` / `validate <file>`: no Pulumi, no Twilio calls."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from architecture.errors import ArchitectureError
from architecture.loading import PROJECT, load_stack_config
from architecture.planner import build_plan
from architecture.render import counted, render_plan

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "show":
            path = arguments.file or REPO_ROOT / f"Pulumi.{arguments.stack}.yaml"
            settings = load_stack_config(path, arguments.project, stack=arguments.stack)
            print(render_plan(build_plan(settings)))
        else:
            settings = load_stack_config(arguments.file, arguments.project, stack=arguments.stack)
            counts = build_plan(settings).counts
            print(
                f"{arguments.file}: valid ({settings.project}/{settings.stack}, "
                f"{counted(counts.accounts, 'account')}, {counted(counts.services, 'service')}, "
                f"{counted(counts.phone_numbers, 'phone number')})"
            )
    except ArchitectureError as error:
        print(error.report(), file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m architecture",
        description="Validate a stack's declared Twilio architecture and show its plan, "
        "without calling Twilio.",
    )
    parser.add_argument("--project", default=PROJECT, help=f"project namespace (default {PROJECT})")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print the planned tree of a stack")
    show.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml at the repository root")
    show.add_argument("--file", type=Path, help="read this stack file instead")
    validate = commands.add_parser("validate", help="check a stack file; exit 1 on problems")
    validate.add_argument("file", type=Path, help="a Pulumi.<stack>.yaml file")
    validate.add_argument("--stack", help="stack name (default: from the file name)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
