"""The estate benchmark (issue #9): an ISV production estate of N customers, `pulumi up`, a
no-change `preview`, `refresh` and `destroy` on the emulator, against the floor (the same
creates scripted by hand with the official twilio client and 16 threads), in one run.

    .venv/bin/python -m bench.estate --customers 10,50,100 --latency-ms 100 \\
        --layouts one,split --groups 4

Each customer: a subaccount, 2 restricted API keys (`backend`, `reporting`), 2
Messaging Services (notifications, verification) with 2 numbers each by area-code search,
status callbacks to the collector. The estate is written as Pulumi.<stack>.yaml and validated
with `architecture.load_stack_config` before anything runs.

Layouts: `one` is the estate as one stack; `split` is the customers cut into `--groups`
stacks run side by side through the Automation API (`work_dir` programs). Both run with the
settings the README recommends (`--checkpoints skip`, `--parallel`, `--provider-workers`);
`--levers-n` adds a table that turns them on one at a time from Pulumi's defaults.

Every measurement gets its own emulator (fresh database, `--latency-ms` per request) and its
own temporary project and file backend; nothing is written into the checkout. The estate is
production (subaccounts and numbers protected), with `release_on_delete: true` on its numbers
so that a decommissioning destroy can release them: before `destroy` the benchmark runs
`pulumi state unprotect --all`, as an operator would, and reports that step's time apart.

This module is the command line; the estate is in estate_shape.py, the measured runs in
estate_runs.py, the profile in estate_profile.py and the report in estate_report.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.estate_profile import run_profile
from bench.estate_report import print_report
from bench.estate_runs import (
    PULUMI_DEFAULTS,
    STOCK_WORKERS,
    LayoutResult,
    OpResult,
    Settings,
    run_floor_once,
    run_layout,
)
from devkit.program import BIN_DIR, VENV_DIR

# --- the command line -----------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _words(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def clean_environment() -> None:
    """The Automation API passes this process's environment on: no stray backend, no real
    Twilio credentials, the checkout's engine and venv first on PATH."""
    for key in list(os.environ):
        if key.startswith(("PULUMI_", "TWILIO_")):
            del os.environ[key]
    os.environ["PATH"] = f"{BIN_DIR}:{VENV_DIR / 'bin'}:{os.environ.get('PATH', '')}"
    os.environ["PULUMI_SKIP_UPDATE_CHECK"] = "true"


@contextlib.contextmanager
def scratch(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    directory = Path(tempfile.mkdtemp(prefix="tlz-estate-bench-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.estate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=_ints, default=[10, 50, 100])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument(
        "--zero-latency",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure up and the floor at 0 ms (the ratio at loopback speed)",
    )
    parser.add_argument("--layouts", type=_words, default=["one", "split"])
    parser.add_argument("--groups", type=int, default=4, help="stacks in the split layout")
    parser.add_argument(
        "--operations",
        type=_words,
        default=["up", "preview", "refresh", "destroy"],
        help="what to measure after up (up always runs)",
    )
    parser.add_argument("--checkpoints", choices=("skip", "per-step"), default="skip")
    parser.add_argument("--parallel", type=int, default=64)
    parser.add_argument(
        "--provider-workers",
        type=int,
        default=64,
        help=f"provider operations at once per stack (Pulumi's own host: {STOCK_WORKERS})",
    )
    parser.add_argument(
        "--levers-n",
        type=int,
        default=50,
        help="customers for the one-lever-at-a-time table (0: no table)",
    )
    parser.add_argument(
        "--op-timeout", type=float, default=900.0, help="seconds before one operation is killed"
    )
    parser.add_argument(
        "--experiment",
        type=Path,
        action="append",
        default=[],
        metavar="PATCH",
        help="a unified diff (-p1) to the program, measured as one more row of the levers "
        "table on a copy (repeatable)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more up of the largest N as one stack with the program, the provider and the "
        "engine profiled",
    )
    parser.add_argument("--keep", type=Path, help="keep every project, backend and log here")
    return parser.parse_args(argv)


def lever_steps(settings: Settings, groups: int, experiments: Sequence[Path]) -> list:
    """(label, layout, settings, patches): from Pulumi's defaults to the recommended settings,
    one lever at a time, then each proposed program change on top."""
    skip = replace(PULUMI_DEFAULTS, skip_checkpoints=True)
    steps = [
        ("Pulumi defaults (per-step checkpoints, -p 8, 4 workers)", "one", PULUMI_DEFAULTS),
        ("+ PULUMI_SKIP_CHECKPOINTS=true", "one", skip),
        (f"+ --parallel {settings.parallel}", "one", replace(skip, parallel=settings.parallel)),
        (f"+ {settings.provider_workers} provider workers (recommended)", "one", settings),
        (f"+ split into {groups} stacks (Automation API)", "split", settings),
    ]
    return [(label, layout, lever, ()) for label, layout, lever in steps] + [
        (f"recommended + {patch.name} (proposed change)", "one", settings, (patch,))
        for patch in experiments
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clean_environment()
    settings = Settings(args.checkpoints == "skip", args.parallel, args.provider_workers)
    latencies = [args.latency_ms] + ([0.0] if args.zero_latency and args.latency_ms else [])
    results: list[LayoutResult] = []
    floors: dict[tuple[int, float], OpResult] = {}
    levers: list[tuple[str, LayoutResult]] = []
    failures: list[str] = []  # what the main table lacks: the run fails
    side_failures: list[str] = []  # levers, experiments, profile: reported only
    profile: list[str] = []
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.0f}s] {message}", file=sys.stderr, flush=True)

    def attempt(label: str, action: Callable[[], Any], *, side: bool = False) -> Any:
        """A measurement that fails is reported, and the others still run."""
        log(label)
        try:
            return action()
        except Exception as error:
            failed = f"{label}: {type(error).__name__}: {str(error)[-600:]}"
            (side_failures if side else failures).append(failed)
            log(f"  failed: {failed}")
            return None

    def layout_run(directory: Path, **kwargs: Any) -> LayoutResult:
        base = dict(groups=args.groups, op_timeout=args.op_timeout, log=log)
        return run_layout(directory, **{**base, **kwargs})

    with scratch(args.keep) as root:
        for customers in args.customers:
            for latency in latencies:
                name = f"n{customers}-{latency:g}ms"
                floor = attempt(
                    f"N={customers}, {latency:g} ms: floor",
                    lambda n=customers, lat=latency, d=root / f"{name}-floor": run_floor_once(
                        d, n, lat
                    ),
                )
                if floor is not None:
                    floors[(customers, latency)] = floor
                operations = args.operations if latency == args.latency_ms else ["up"]
                for layout in args.layouts:
                    result = attempt(
                        f"N={customers}, {latency:g} ms: {layout}",
                        lambda n=customers, lat=latency, lay=layout, ops=operations, nm=name: (
                            layout_run(
                                root / f"{nm}-{lay}",
                                customers=n,
                                layout=lay,
                                latency_ms=lat,
                                settings=settings,
                                operations=ops,
                            )
                        ),
                    )
                    if result is not None:
                        results.append(result)
        if args.levers_n:
            n, latency = args.levers_n, args.latency_ms
            if (n, latency) not in floors:
                floor = attempt(
                    f"levers N={n}: floor",
                    lambda: run_floor_once(root / f"levers-n{n}-floor", n, latency),
                    side=True,
                )
                if floor is not None:
                    floors[(n, latency)] = floor
            steps = lever_steps(settings, args.groups, args.experiment)
            for index, (label, layout, lever, patches) in enumerate(steps):
                result = attempt(
                    f"levers N={n}: {label}",
                    lambda i=index, lay=layout, lev=lever, p=patches: layout_run(
                        root / f"levers-{i}",
                        customers=n,
                        layout=lay,
                        latency_ms=latency,
                        settings=lev,
                        operations=["up"],
                        patches=p,
                    ),
                    side=True,
                )
                if result is not None:
                    levers.append((label, result))
        if args.profile:
            profile = (
                attempt(
                    f"profile N={max(args.customers)}",
                    lambda: run_profile(
                        root / "profile",
                        customers=max(args.customers),
                        latency_ms=args.latency_ms,
                        settings=settings,
                        op_timeout=args.op_timeout,
                    ),
                    side=True,
                )
                or []
            )
    print_report(results, floors, levers, args.latency_ms, settings)
    for line in profile:
        print(line)
    if failures or side_failures:
        print("")
        print("== Not measured ==")
        for failure in failures + side_failures:
            print(f"  {failure}")
    log("done")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
