"""The fleet's `up` from empty to converged in two checkouts side by side, against the floor.

    .venv/bin/python -m bench.fleet_cpu --customers 200 --baseline ../main-checkout

Issue #20's first speed target (fleet wall ≤ 1.5x the 16-thread floor script) is a question
of CPU on 2 cores, and the machine is shared, so a change is judged by ratios in one run:
per round, bench/floor.py's script once, then `fleet up --skip-preview` of each checkout
(alternating which goes first), each with its own fresh emulator (the same latency and parent
cap), its own copy of the program, policy pack and group files, and its own .venv and engine
(`make setup` in each). Printed per run: wall, x floor, CPU per role (engine, program,
provider, the fleet command), Twilio calls, the load average, and how busy this run kept the
cores over time (CPU seconds of its processes per 10 s of wall: gaps show idle phases).

`--profile DIR` records the candidate's run with py-spy (every Python process of the fleet,
`--subprocesses --gil`: the threads holding the GIL, so Python's CPU rather than its waits), as
raw collapsed stacks whose first frames name each process.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.estate_shape import area_code_of, customer_keys
from bench.fleet import Step, fleet_emulator, fleet_env, fleet_role, load, run_floor_step
from bench.measure import CpuSampler, descendants, twilio_calls
from devkit.emulator_process import EmulatorProcess
from devkit.program import PROGRAM_PACKAGES, REPO_ROOT

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")

# Writes a checkout's group files with that checkout's own fleet.catalog (run by its Python).
_WRITE_GROUPS = """
import math, sys
from pathlib import Path
from fleet.catalog import (ARCHITECTURE, CustomerSpec, customer_tenant, group_name,
                           load_settings, new_group_document, write_group)
project, size = Path(sys.argv[1]), int(sys.argv[2])
specs = [line.split() for line in sys.stdin.read().splitlines() if line]
settings = load_settings(project)
for number in range(1, math.ceil(len(specs) / size) + 1):
    chunk = specs[(number - 1) * size : number * size]
    tenants = [customer_tenant(settings, CustomerSpec(k, f"Customer {k}", a)) for k, a in chunk]
    document = new_group_document(settings, tenants[0])
    document["config"][ARCHITECTURE]["tenants"] = tenants
    name = group_name(settings, number)
    write_group(project / f"Pulumi.{name}.yaml", document, name)
"""


def _runnable_threads(pids: Sequence[int]) -> int:
    """How many threads of `pids` are running or waiting for a core right now (state R)."""
    runnable = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/stat", "rb") as handle:
                    raw = handle.read()
            except OSError:
                continue
            if raw[raw.rfind(b")") + 2 : raw.rfind(b")") + 3] == b"R":
                runnable += 1
    return runnable


class BusyTimeline:
    """Per `bucket` s of wall, for this process's children and their trees: the cores they
    used (CPU seconds / bucket) and the cores they could have used (the mean over samples of
    their runnable threads, at most the machine's cores). On a shared machine `used` follows
    the neighbours' load; `could use` does not: it is what this run would keep busy on idle
    cores, so its dips are the run's own idle phases (everything waiting on Twilio or on one
    another), and a run that keeps it at the core count is CPU-bound."""

    def __init__(self, bucket: float = 10.0, interval: float = 0.25) -> None:
        self.bucket = bucket
        self.interval = interval
        self.cores = len(os.sched_getaffinity(0))
        self.used: list[float] = []
        self.could_use: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="busy-timeline", daemon=True)

    def _cpu(self) -> tuple[float, list[int]]:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        # With what each has reaped of its own children, so a finished engine or provider stays
        # in its parent's count.
        live = descendants(os.getpid())
        cpu = sum(stat.cpu + stat.reaped for stat in live.values())
        return usage.ru_utime + usage.ru_stime + cpu, [int(pid) for pid in live]

    def _run(self) -> None:
        started = time.monotonic()
        last, _ = self._cpu()
        samples: list[int] = []
        next_edge = started + self.bucket
        while not self._stop.wait(self.interval):
            total, live = self._cpu()
            samples.append(min(self.cores, _runnable_threads(live)))
            if time.monotonic() >= next_edge:
                # A process exiting between two reads can make this dip below zero.
                self.used.append(max(0.0, total - last) / self.bucket)
                self.could_use.append(sum(samples) / len(samples))
                last, samples, next_edge = total, [], next_edge + self.bucket

    def __enter__(self) -> BusyTimeline:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def describe(self) -> str:
        used = " ".join(f"{cores:.1f}" for cores in self.used)
        could = " ".join(f"{cores:.1f}" for cores in self.could_use)
        return (
            f"cores per {self.bucket:g} s, used: {used}\n"
            f"    could use (runnable threads, at most {self.cores}): {could}"
        )


@dataclass
class Checkout:
    name: str
    root: Path
    # A variant of a checkout: extra environment for the fleet command, extra fleet arguments.
    env: dict[str, str] = field(default_factory=dict)
    fleet_args: list[str] = field(default_factory=list)

    @property
    def python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"


@dataclass
class Run:
    checkout: str
    step: Step
    timeline: str = ""
    notes: list[str] = field(default_factory=list)
    summary: str = ""  # the fleet's own summary table: each group's seconds


def prepare_project(checkout: Checkout, project: Path, customers: int, group_size: int) -> None:
    """The checkout's program, pack and fleet settings, with N customers in groups."""
    project.mkdir(parents=True)
    for package in PROGRAM_PACKAGES:
        shutil.copytree(checkout.root / package, project / package, ignore=_IGNORED)
    shutil.copy2(checkout.root / "__main__.py", project / "__main__.py")
    shutil.copytree(checkout.root / "policies", project / "policies", ignore=_IGNORED)
    (project / "Pulumi.yaml").write_text(
        "name: twilio-landing-zone\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {checkout.root / '.venv'}\n"
        "plugins:\n  providers:\n    - name: pulumi-python\n"
        f"      path: {checkout.root / 'tools' / 'provider_host'}\n"
    )
    text = (checkout.root / "fleet.yaml").read_text()
    (project / "fleet.yaml").write_text(
        text.replace("max_customers_per_group: 150", f"max_customers_per_group: {group_size}")
    )
    specs = "\n".join(f"{key} {area_code_of(key)}" for key in customer_keys(customers))
    subprocess.run(
        [str(checkout.python), "-c", _WRITE_GROUPS, str(project), str(group_size)],
        input=specs,
        text=True,
        cwd=checkout.root,
        env={**os.environ, "PYTHONPATH": str(checkout.root)},
        check=True,
    )
    (project / ".gitignore").write_text(".state/\n__pycache__/\n")
    git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "the fleet"], cwd=project, check=True)


def fleet_up(
    checkout: Checkout, root: Path, args: argparse.Namespace, profile: Path | None
) -> list[Run]:
    """`fleet up --skip-preview` from empty; with `--again`, then once more with `--all` (every
    resource diffed, nothing to change)."""
    emulator = fleet_emulator(root, args, args.customers)
    emulator.start()
    try:
        project = root / "project"
        prepare_project(checkout, project, args.customers, args.group_size)
        env = {**fleet_env(checkout.root, root, emulator.url), **checkout.env}
        runs = [measured_up(checkout, project, env, emulator, args, profile, [])]
        if args.again:
            runs.append(measured_up(checkout, project, env, emulator, args, None, ["--all"]))
        return runs
    finally:
        emulator.stop()


def measured_up(
    checkout: Checkout,
    project: Path,
    env: dict[str, str],
    emulator: EmulatorProcess,
    args: argparse.Namespace,
    profile: Path | None,
    extra: list[str],
) -> Run:
    command = [str(checkout.python), "-m", "fleet", "--project-dir", str(project), "up"]
    command += ["--skip-preview", "--parent-in-flight", str(args.parent_in_flight), *extra]
    if args.concurrency:
        command += ["--concurrency", str(args.concurrency)]
    command += checkout.fleet_args
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        out = profile / f"{checkout.name}-{args.customers}.txt"
        command = [
            "py-spy",
            "record",
            "--subprocesses",
            "--gil",  # only the thread holding the GIL: Python's CPU, not its waits
            "--format",
            "raw",
            "--rate",
            str(args.profile_rate),
            "--nonblocking",
            "-o",
            str(out),
            "--",
            *command,
        ]
    before = emulator.stats()
    sampler = CpuSampler(role_of=fleet_role).start()
    started = time.monotonic()
    with BusyTimeline() as timeline:
        done = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=args.op_timeout
        )
    wall = time.monotonic() - started
    cpu = sampler.stop()
    after = emulator.stats()
    if done.returncode != 0:
        raise SystemExit(f"{checkout.name}: fleet up failed:\n{done.stdout}\n{done.stderr}")
    what = "fleet up --all, converged" if extra else "fleet up, empty -> converged"
    step = Step(
        f"{checkout.name}: {what}", wall, twilio_calls(after) - twilio_calls(before), load(), cpu
    )
    rejected = sum(after.get("over_concurrency", {}).values()) - sum(
        before.get("over_concurrency", {}).values()
    )
    notes = [f"429 over the cap: {rejected}"] if rejected else []
    return Run(checkout.name, step, timeline.describe(), notes, done.stdout.strip())


def describe(run: Run, floor: Step) -> str:
    step, cpu = run.step, run.step.cpu
    assert cpu is not None
    roles = {"engine": cpu.engine, **{k: v for k, v in cpu.sampled.items() if k != "engine"}}
    emulator = roles.pop("emulator", 0.0)  # Twilio's side: not the fleet's, but on these cores
    parts = " ".join(f"{role} {seconds:.1f}" for role, seconds in sorted(roles.items()))
    return (
        f"{step.name:<40} {step.wall:7.1f}s {step.wall / floor.wall:5.2f}x floor  "
        f"calls {step.calls}  {step.load}\n"
        f"    CPU s: {parts} = {sum(roles.values()):.1f} (the emulator: {emulator:.1f})"
        + "".join(f"; {note}" for note in run.notes)
        + f"\n    {run.timeline}"
        + "".join(f"\n      | {line}" for line in run.summary.splitlines())
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_cpu", description=__doc__)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--group-size", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--parent-in-flight", type=int, default=32, help="also the emulator cap")
    parser.add_argument("--concurrency", type=int, help="groups at once (default: fleet's)")
    parser.add_argument("--baseline", type=Path, help="another checkout, run beside this one")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:K=V,...[:ARGS]",
        help="this checkout again with extra environment and fleet arguments, e.g. "
        "'gogc:GOGC=200' or 'c3::--concurrency 3' (repeatable)",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--again", action="store_true", help="then `fleet up --all` of the converged fleet"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the floor script")
    parser.add_argument("--profile", type=Path, help="py-spy this checkout's run into DIR")
    parser.add_argument("--profile-rate", type=int, default=25)
    parser.add_argument("--op-timeout", type=float, default=7200.0)
    parser.add_argument("--keep", type=Path, help="keep the work here instead of a temp dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    candidate = Checkout("this checkout", REPO_ROOT)
    checkouts = [candidate]
    if args.baseline is not None:
        checkouts.append(Checkout("baseline", args.baseline.resolve()))
    for spec in args.variant:
        name, _, rest = spec.partition(":")
        env_part, _, fleet_part = rest.partition(":")
        env = dict(item.split("=", 1) for item in env_part.split(",") if item)
        checkouts.append(Checkout(name, REPO_ROOT, env, fleet_part.split()))
    work = args.keep or Path(tempfile.mkdtemp(prefix="tlz-fleet-cpu-"))
    groups = math.ceil(args.customers / args.group_size)
    print(
        f"N={args.customers} in {groups} group(s) of {args.group_size}, "
        f"{args.latency_ms:g} ms, parent budget {args.parent_in_flight}; work in {work}"
    )
    try:
        for round_number in range(1, args.rounds + 1):
            floor = None
            if not args.no_floor:
                floor = run_floor_step(
                    work / f"r{round_number}-floor", args.customers, args.latency_ms
                )
                print(
                    f"round {round_number} floor (16 threads) {floor.wall:7.1f}s  "
                    f"calls {floor.calls}  {floor.load}",
                    flush=True,
                )
            order = checkouts if round_number % 2 else checkouts[::-1]
            for index, checkout in enumerate(order):
                root = work / f"r{round_number}-{index}"
                profile = args.profile if checkout is candidate else None
                for run in fleet_up(checkout, root, args, profile):
                    reference = floor or run.step
                    print(f"round {round_number} {describe(run, reference)}", flush=True)
                if not args.keep:
                    shutil.rmtree(root, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
