"""The policy check of a pull request that adds a customer group (issue 16, item 6): how long
`make policy-check` takes for an N-customer ISV group that is all new, and again once it
exists (no change), measured against the stock command in the same run, with the CPU split
by process role (engine, program, provider host, policy pack).

    .venv/bin/python -m bench.policy_check --customers 100,200 [--no-change] [--profile]
    .venv/bin/python -m bench.policy_check --customers 100 --no-change --stock-up-to 0 \
        --baseline /path/to/a/checkout/of/main --repeat 2 [--catalog]

Rows, per N (each in its own temporary project and file backend):
- `stock`: `pulumi preview --policy-pack policies --policy-pack-config policies/config/prod.json`
  (what `make policy-check` ran before), with the CLI's default progress display;
- `no pack` (with `--without-pack`): the same preview without the pack; the pack's own CPU is
  in every row anyway (`pack+other`: the policy pack's process, and the entry point's checks);
- `shipped`: `scripts/policy-check prod`, what `make policy-check` and the workflow run now;
- `baseline` (with `--baseline CHECKOUT`): `scripts/policy-check prod` of another checkout (say
  a worktree of main, after its own `make setup`), its program, pack, entry point, virtualenv,
  engine and provider host, on the same stack and state, alternated with `shipped`
  (`--repeat` times each), so both see the same load;
- with `--no-change`: the group is created first (`pulumi up` on an emulator at 0 ms; by the
  baseline's program when there is one, so `shipped` then previews an estate the old code
  made), then `stock`, `baseline` and `shipped` again, now with nothing to change. The
  `plan` column is the preview's summary: a replace there would be a state incompatibility.
- with `--catalog`: this checkout's stack file names a catalog file holding its tenants
  (`twilio-landing-zone:catalog`, how the fleet writes groups); the baseline's stays inline.
  On a shared state the catalog's preview updates Pulumi's default provider (its inputs are
  the stack config, now without the tenants) and nothing else.
`--timeline` (with `--no-change`) runs each entry point's no-change check once more with the
engine's verbose log and prints where its wall time went (bench/preview_timeline.py).
`--profile` records the engine's CPU profile (`--profiling`, read with `go tool pprof`) during
the stock preview of the largest N: where the engine's time goes.

The estate is bench/estate.py's (12 Twilio objects per customer, 16 resources). Times are
wall seconds on this machine, CPU seconds per role from /proc (bench/measure.py); they are
noisy when other work shares the cores, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from architecture import build_plan, load_stack_config
from bench.estate_shape import customer_keys, tenant
from bench.measure import CpuSampler, CpuUse
from bench.preview_timeline import parse as parse_timeline

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "twilio-landing-zone"
STACK = "prod"
PASSPHRASE = "twilio-landing-zone-bench"
COLLECTOR_URL = "https://hooks.example.com/twilio/status"
CATALOG = f"catalogs/{STACK}.yaml"
PROGRAM = (
    "architecture",
    "components",
    "providers",
    "twilio_access",
    "identity_tags",
    "__main__.py",
)
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def write_project(
    project: Path, customers: int, source_root: Path = ROOT, *, catalog: bool = False
) -> int:
    """A copy of the program, the pack and the entry point of the checkout `source_root`, with
    an N-customer stack file (its tenants in a catalog file with `catalog`); the number of
    Twilio resources the plan implies."""
    project.mkdir(parents=True)
    for name in PROGRAM:
        source = source_root / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=_IGNORED)
        else:
            shutil.copy2(source, project / name)
    shutil.copytree(source_root / "policies", project / "policies", ignore=_IGNORED)
    (project / "scripts").mkdir()
    shutil.copy2(source_root / "scripts" / "policy-check", project / "scripts" / "policy-check")
    (project / "Pulumi.yaml").write_text(
        f"name: {PROJECT}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {source_root / '.venv'}\n"
        f"plugins:\n  providers:\n    - name: pulumi-python\n"
        f"      path: {source_root / 'tools' / 'provider_host'}\n"
    )
    tenants = [tenant(key) for key in customer_keys(customers)]
    architecture: dict = {"style": "isv", "environments": ["production"]}
    config: dict = {
        f"{PROJECT}:collectorUrl": COLLECTOR_URL,
        f"{PROJECT}:architecture": architecture,
    }
    if catalog:
        (project / "catalogs").mkdir()
        (project / CATALOG).write_text(yaml.safe_dump({"tenants": tenants}, sort_keys=False))
        config[f"{PROJECT}:catalog"] = CATALOG
    else:
        architecture["tenants"] = tenants
    document = {"config": config}
    stack_file = project / f"Pulumi.{STACK}.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return build_plan(load_stack_config(stack_file, PROJECT)).counts.resources


@dataclass
class Measured:
    label: str
    returncode: int
    cpu: CpuUse
    output: str
    load: float = 0.0  # the 1-minute load average when the run ended

    @property
    def pack(self) -> float:
        return self.cpu.sampled.get("other", 0.0)

    @property
    def plan(self) -> str:
        """The run's summary (`1602 unchanged`, `1 to update`, `16 created`, ...), one cell."""
        found = re.findall(
            r"^\s+[-+~]*\s*(\d+ (?:to \w+|unchanged|created|updated|deleted|replaced))\s*$",
            self.output,
            re.MULTILINE,
        )
        return ", ".join(found) or "-"


def pulumi_env(checkout: Path, state: Path, **extra: str) -> dict[str, str]:
    """The environment of a run of `checkout`'s engine, virtualenv and hosts, with a file
    backend and Pulumi home under `state`; nothing of the caller's Pulumi or Twilio settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "TWILIO_"))}
    env.update(
        PATH=f"{checkout / '.bin'}:{checkout / '.venv' / 'bin'}:{env.get('PATH', '')}",
        PULUMI_BACKEND_URL=f"file://{state / 'backend'}",
        PULUMI_HOME=str(state / "home"),
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        NO_COLOR="1",
        **extra,
    )
    return env


def measured_run(label: str, command: Sequence[str], cwd: Path, env: dict[str, str]) -> Measured:
    """`command` run to its end, with the CPU of every process it started, by role."""
    sampler = CpuSampler().start()
    completed = subprocess.run(
        list(command),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=3600,
    )
    cpu = sampler.stop()
    return Measured(label, completed.returncode, cpu, completed.stdout, os.getloadavg()[0])


class Workspace:
    def __init__(
        self, root: Path, customers: int, baseline: Path | None = None, catalog: bool = False
    ) -> None:
        self.project = root / "project"
        self.state = root / "state"
        self.resources = write_project(self.project, customers, catalog=catalog)
        # The other checkout's copy: same project and stack names, so the same state.
        self.baseline = baseline
        self.baseline_project = root / "baseline" if baseline else None
        if baseline and self.baseline_project:
            write_project(self.baseline_project, customers, baseline)
        (self.state / "backend").mkdir(parents=True)
        self.emulator_url = "http://127.0.0.1:1"  # a preview calls nothing; `up` sets its own

    def env(self, checkout: Path = ROOT) -> dict[str, str]:
        """The environment of a run of `checkout`'s engine, virtualenv and hosts."""
        return pulumi_env(checkout, self.state, TWILIO_EMULATOR_URL=self.emulator_url)

    def run(
        self, label: str, command: Sequence[str], cwd: Path | None = None, **extra_env: str
    ) -> Measured:
        checkout = self.baseline if cwd and cwd == self.baseline_project else ROOT
        env = {**self.env(checkout or ROOT), **extra_env}
        return measured_run(label, command, cwd or self.project, env)

    def pulumi(self, *args: str) -> list[str]:
        return ["pulumi", *args, "--stack", STACK, "--non-interactive"]


PACK_ARGS = ("--policy-pack", "policies", "--policy-pack-config", "policies/config/prod.json")


def stock(workspace: Workspace, label: str, *extra: str) -> Measured:
    return workspace.run(label, workspace.pulumi("preview", *PACK_ARGS, *extra))


def shipped(workspace: Workspace, label: str) -> Measured:
    return workspace.run(label, ["scripts/policy-check", STACK])


def entry_points(workspace: Workspace, state: str, repeat: int) -> list[Measured]:
    """`shipped` (and `baseline`, alternated with it, each first in turn) `repeat` times."""
    measured = []
    for round_ in range(repeat):
        pair = [("shipped", workspace.project), ("baseline", workspace.baseline_project)]
        if round_ % 2:
            pair.reverse()
        for name, project in pair:
            if project is not None:
                command = ["scripts/policy-check", STACK]
                measured.append(workspace.run(f"{name}, {state}", command, cwd=project))
    return measured


def timelines(workspace: Workspace) -> list[str]:
    """One more no-change check of each entry point, its CLI logging at -v=7 (a `pulumi` on
    PATH that adds the flags and runs the checkout's own), read into a timeline."""
    lines: list[str] = []
    runs = [("shipped", workspace.project, ROOT)]
    if workspace.baseline and workspace.baseline_project:
        runs.append(("baseline", workspace.baseline_project, workspace.baseline))
    for name, project, checkout in runs:
        shim = workspace.state / f"timeline-{name}"
        shim.mkdir(exist_ok=True)
        wrapper = shim / "pulumi"
        wrapper.write_text(
            f'#!/bin/sh\nexec "{checkout / ".bin" / "pulumi"}" "$@" -v=7 --logtostderr\n'
        )
        wrapper.chmod(0o755)
        path = f"{shim}:{workspace.env(checkout)['PATH']}"
        started = time.time()
        logged = workspace.run(
            f"{name}, no change, logged", ["scripts/policy-check", STACK], cwd=project, PATH=path
        )
        lines += parse_timeline(logged.output, started).lines(logged.label, logged.cpu.wall)
        lines.append(f"  load {logged.load:.1f}, exit {logged.returncode}, plan {logged.plan}")
    return lines


def create_group(workspace: Workspace) -> Measured:
    emulator = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "emulator",
            "--port",
            "0",
            "--db",
            str(workspace.state / "emulator.db"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = emulator.stdout.readline() if emulator.stdout else ""
        # "Twilio emulator listening on http://127.0.0.1:PORT (...)"
        workspace.emulator_url = line.split("listening on ", 1)[1].split()[0]
        # The old code makes the estate when there is a baseline: the new code's previews
        # then show whether they plan anything on what it made.
        return workspace.run(
            "up",
            workspace.pulumi(
                "up", "--yes", "--skip-preview", "--parallel", "64", "--suppress-progress"
            ),
            cwd=workspace.baseline_project,
            PULUMI_SKIP_CHECKPOINTS="true",
            TLZ_PROVIDER_WORKERS="64",
        )
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


def engine_profile(prefix: Path) -> list[str]:
    """The largest CPU profile the CLI wrote under `prefix` (--profiling), read by pprof."""
    profiles = sorted(prefix.parent.glob(f"{prefix.name}.*.cpu"), key=lambda p: p.stat().st_size)
    go = shutil.which("go")
    if not profiles or go is None:
        return [f"engine profile: none readable (profiles {len(profiles)}, go={go})"]
    top = subprocess.run(
        [go, "tool", "pprof", "-top", "-cum", "-nodecount=14", str(profiles[-1])],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout.splitlines()
    start = next((i for i, line in enumerate(top) if line.startswith("Duration")), 0)
    return ["engine CPU profile of the stock preview (go tool pprof -top -cum):"] + [
        "  " + line for line in top[start:] if line.strip()
    ]


def row(n: int, resources: int, m: Measured) -> str:
    cpu = m.cpu
    return (
        f"| {n} | {resources} | {m.label} | {cpu.wall:.1f} | {cpu.engine:.1f} | "
        f"{cpu.program:.1f} | {cpu.provider:.1f} | {m.pack:.1f} | "
        f"{cpu.engine + cpu.program + cpu.provider + m.pack:.1f} | {m.load:.1f} | {m.returncode} | "
        f"{m.plan} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", default="100,200")
    parser.add_argument(
        "--stock-up-to",
        type=int,
        default=100,
        help="measure the stock command only up to this many customers",
    )
    parser.add_argument("--no-change", action="store_true")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the engine during the stock check of the largest N",
    )
    parser.add_argument(
        "--without-pack", action="store_true", help="also time the stock preview without the pack"
    )
    parser.add_argument("--keep", type=Path, help="keep the projects under this directory")
    parser.add_argument(
        "--baseline", type=Path, help="a checkout whose scripts/policy-check runs alternated"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each entry point")
    parser.add_argument(
        "--catalog", action="store_true", help="this checkout's tenants in a catalog file"
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="with --no-change: where each entry point's wall time goes (engine log)",
    )
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.customers.split(",") if part]

    lines = [
        "| customers | resources | check | wall s | engine CPU s | program CPU s | "
        "provider CPU s | pack+other CPU s | total CPU s | load | exit | plan |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    walls: dict[tuple[int, str], list[float]] = {}
    notes: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix="tlz-policy-check-", dir=args.keep))
    try:
        for n in sizes:
            workspace = Workspace(scratch / f"n{n}", n, args.baseline, args.catalog)
            workspace.run(
                "init",
                [
                    "pulumi",
                    "stack",
                    "init",
                    STACK,
                    "--secrets-provider",
                    "passphrase",
                    "--non-interactive",
                ],
            )
            measured = []
            if n <= args.stock_up_to:
                profiled = args.profile and n == max(x for x in sizes if x <= args.stock_up_to)
                prefix = scratch / f"engine-{n}"
                extra = ("--profiling", str(prefix)) if profiled else ()
                measured.append(stock(workspace, "stock, all new", *extra))
                if profiled:
                    notes += engine_profile(prefix)
                if args.without_pack:
                    measured.append(workspace.run("no pack, all new", workspace.pulumi("preview")))
            measured += entry_points(workspace, "all new", args.repeat)
            if args.no_change:
                created = create_group(workspace)
                if created.returncode != 0:
                    notes.append(f"N={n}: creating the group failed:\n{created.output[-2000:]}")
                else:
                    if n <= args.stock_up_to:
                        measured.append(stock(workspace, "stock, no change"))
                    measured += entry_points(workspace, "no change", args.repeat)
                    if args.timeline:
                        notes += timelines(workspace)
            for m in measured:
                lines.append(row(n, workspace.resources, m))
                walls.setdefault((n, m.label), []).append(m.cpu.wall)
                if m.label.startswith(("stock", "shipped", "baseline")) and m.returncode != 0:
                    notes.append(f"N={n} {m.label} exited {m.returncode}:\n{m.output[-2000:]}")
                print(lines[-1], flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print("\n".join(lines))
    median = {key: statistics.median(values) for key, values in walls.items()}
    for (n, label), wall in sorted(median.items()):
        for other in ("stock", "baseline"):
            reference = median.get((n, label.replace("shipped", other)))
            if label.startswith("shipped") and reference:
                print(f"N={n} {label}: {wall / reference:.2f} x the {other} command's wall time")
    for label in ("shipped, all new", "shipped, no change"):
        points = sorted((n, wall) for (n, lab), wall in median.items() if lab == label)
        if len(points) >= 2:
            (n0, w0), (n1, w1) = points[0], points[-1]
            print(f"{label}: {w1 / w0:.2f} x the wall time for {n1 / n0:.1f} x the customers")
    print("\n".join(notes))
    print(f"measured at {time.strftime('%H:%M:%S')}; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
