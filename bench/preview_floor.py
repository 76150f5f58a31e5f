"""The floor of a no-change policy check on this machine: how fast a Pulumi preview of a group's
number of registrations can be when the program, its resources and the pack do nothing at all,
measured side by side with this project's check of a real group.

    .venv/bin/python -m bench.preview_floor [--customers 100] [--repeat 2]

A scratch project registers the shape of an N-customer landing zone and nothing else: 4
component resources and 12 dynamic resources per customer plus one root component (the plan's
1,602 at 100 customers, the stack included, as for bench/policy_check.py's group), each
dynamic resource served by a provider whose `diff` answers "no change" without looking. It is
created once with `pulumi up`; then each variant previews it with no change, alternated
`--repeat` times:

- `floor, stock SDK, no pack`: the Python SDK as installed;
- `floor, no pack`: with the program's SDK replacements (`components/sdk_overhead.py`,
  `components/sdk_registration.py`), as `__main__.py` installs them;
- `floor, empty pack`: the same, with a pulumi-policy pack of one stack rule that does nothing;
- `floor, this pack`: the same, with this project's pack (`policies/`, no config: every rule
  mandatory; it finds nothing to say about these resources);
- `floor, this pack, one customer targeted`: the same, `--target` one customer's component and
  `--target-dependents`, as the fleet runs a customer's join (fleet/targets.py): the engine
  skips the untargeted resources' Check and Diff, not the pack's two calls;
- with `--join`, `floor join: preview` and `floor join: up`: one more customer, previewed and
  then `up`ped, both targeted and with this pack, as `fleet preview|up --base` run a join
  (without the fleet command's own start and Twilio's latency: a floor for bench/fleet_join.py);
- `check, no change` (unless `--customers-check 0`): `scripts/policy-check prod` on a real
  N-customer group that exists (bench/policy_check.py's project, created on the emulator).

Every preview runs as `scripts/policy-check` runs its own: `--suppress-progress --parallel 64`,
`PULUMI_SKIP_CHECKPOINTS`, `PULUMI_PARALLEL_DIFF`, `GOGC=400`, the same engine, language host
and provider host. What the floor shows: the engine calls the pack twice per registration and
the provider once per dynamic resource, in series (step_generator.go), so a check of as many
registrations cannot be faster than the `floor, this pack` row, whatever the program does.
Pulumi's automatic debug log stays on, as in a user's `make policy-check`. CPU per role from
/proc (bench/measure.py; the pack and the entry point's checks are `other`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.policy_check import (
    Measured,
    Workspace,
    create_group,
    measured_run,
    pulumi_env,
    shipped,
)
from devkit.program import write_pulumi_yaml

ROOT = Path(__file__).resolve().parents[1]
STACK = "floor"
# The shape of bench/estate_shape.py's customer in the landing zone's program.
COMPONENTS_PER_CUSTOMER = 4  # tenant, delivery tracking, two use cases' messaging
DYNAMIC_PER_CUSTOMER = 12  # subaccount, default service, 2 keys, 2 services, 2 pools, 4 numbers

# What scripts/policy-check sets for its preview (that file says why).
CHECK_ENV = {"GOGC": "400", "PULUMI_SKIP_CHECKPOINTS": "true", "PULUMI_PARALLEL_DIFF": "true"}
CHECK_FLAGS = ("--suppress-progress", "--parallel", "64")

PROVIDER = '''"""A provider that creates by echoing its inputs and never sees a change."""
import pulumi.dynamic as dynamic


class Echo(dynamic.ResourceProvider):
    def create(self, props):
        return dynamic.CreateResult(id_=props["name"], outs=props)

    def diff(self, _id, _olds, _news):
        return dynamic.DiffResult(changes=False)


class Thing(dynamic.Resource):
    def __init__(self, name, props, opts=None):
        super().__init__(Echo(), name, {"name": name, **props}, opts)
'''

PROGRAM = '''"""N customers' worth of registrations that do nothing (bench/preview_floor.py)."""
import os

import pulumi

if os.environ.get("FLOOR_SDK") != "stock":
    from components import sdk_overhead, sdk_registration

    sdk_overhead.install()
    sdk_registration.install()

from echo import Thing

components = int(os.environ["FLOOR_COMPONENTS"])
dynamic = int(os.environ["FLOOR_DYNAMIC"])
root = pulumi.ComponentResource("floor:index:Root", "root")
for customer in range(int(os.environ["FLOOR_CUSTOMERS"])):
    key = f"customer-{customer:04d}"
    under_root = pulumi.ResourceOptions(parent=root)
    tenant = pulumi.ComponentResource("floor:index:Tenant", key, opts=under_root)
    under_tenant = pulumi.ResourceOptions(parent=tenant)
    parents = [tenant]
    for part in range(components - 1):
        name = f"{key}-part-{part}"
        parents.append(pulumi.ComponentResource("floor:index:Part", name, opts=under_tenant))
    for n in range(dynamic):
        properties = {
            "account_sid": f"AC{customer:032x}",
            "friendly_name": f"Customer {customer} (production)",
            "status": "active",
            "tag": "0123456789",
        }
        under_part = pulumi.ResourceOptions(parent=parents[n % len(parents)])
        Thing(f"{key}-thing-{n:02d}", properties, under_part)
    for part in parents:
        part.register_outputs({})
root.register_outputs({})
'''

EMPTY_PACK = '''"""A pack with one stack rule that does nothing: the protocol's cost alone."""
from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy


def nothing(args, report_violation):
    pass


PolicyPack(
    name="floor-pack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[StackValidationPolicy(name="nothing", description="Does nothing.", validate=nothing)],
)
'''


class Floor:
    """The scratch project, its file backend and Pulumi home."""

    def __init__(self, root: Path, customers: int) -> None:
        self.root = root
        self.customers = customers
        self.project = root / "project"
        self.project.mkdir(parents=True)
        shutil.copytree(
            ROOT / "components",
            self.project / "components",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        (self.project / "echo.py").write_text(PROVIDER)
        (self.project / "__main__.py").write_text(PROGRAM)
        write_pulumi_yaml(self.project, "preview-floor")
        self.empty_pack = root / "empty-pack"
        self.empty_pack.mkdir()
        (self.empty_pack / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.1.0\n")
        (self.empty_pack / "__main__.py").write_text(EMPTY_PACK)
        (root / "backend").mkdir()

    def env(self, sdk: str) -> dict[str, str]:
        return pulumi_env(
            ROOT,
            self.root,
            FLOOR_CUSTOMERS=str(self.customers),
            FLOOR_SDK=sdk,
            FLOOR_COMPONENTS=str(COMPONENTS_PER_CUSTOMER),
            FLOOR_DYNAMIC=str(DYNAMIC_PER_CUSTOMER),
        )

    def run(self, label: str, args: Sequence[str], sdk: str = "fast", **extra: str) -> Measured:
        command = ["pulumi", *args, "--stack", STACK, "--non-interactive"]
        return measured_run(label, command, self.project, {**self.env(sdk), **extra})

    def create(self) -> Measured:
        self.run("init", ["stack", "init", "--secrets-provider", "passphrase"])
        return self.run(
            "up",
            ["up", "--yes", "--skip-preview", *CHECK_FLAGS],
            PULUMI_SKIP_CHECKPOINTS="true",
            TLZ_PROVIDER_WORKERS="64",
        )

    def preview(
        self, label: str, sdk: str, pack: Path | None, target: str | None = None
    ) -> Measured:
        args = ["preview", *CHECK_FLAGS, *self._pack_args(pack), *self._target_args(target)]
        return self.run(label, args, sdk, **CHECK_ENV)

    def join(self) -> tuple[Measured, Measured]:
        """One more customer, as the fleet joins one: a targeted preview with the pack, then a
        targeted `up --skip-preview` with the pack (fleet/runner.py, fleet/environment.py)."""
        customer = f"customer-{self.customers:04d}"
        self.customers += 1
        pack = ROOT / "policies"
        previewed = self.preview("floor join: preview", "fast", pack, customer)
        up = ["up", "--yes", "--skip-preview", *CHECK_FLAGS, *self._pack_args(pack)]
        updated = self.run(
            "floor join: up",
            [*up, *self._target_args(customer)],
            PULUMI_SKIP_CHECKPOINTS="true",
        )
        return previewed, updated

    @staticmethod
    def _pack_args(pack: Path | None) -> list[str]:
        return [] if pack is None else ["--policy-pack", str(pack)]

    @staticmethod
    def _target_args(customer: str | None) -> list[str]:
        if customer is None:
            return []
        # One customer's component and what it holds, as the fleet targets a join
        # (fleet/targets.py).
        tenant = f"urn:pulumi:{STACK}::preview-floor::floor:index:Root$floor:index:Tenant"
        return ["--target", f"{tenant}::{customer}", "--target-dependents"]


def row(m: Measured) -> str:
    cpu = m.cpu
    total = cpu.engine + cpu.program + cpu.provider + m.pack
    return (
        f"| {m.label} | {cpu.wall:.1f} | {cpu.engine:.1f} | {cpu.program:.1f} "
        f"| {cpu.provider:.1f} | {m.pack:.1f} | {total:.1f} | {m.load:.1f} | {m.returncode} "
        f"| {m.plan} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2, help="previews of each variant")
    parser.add_argument(
        "--customers-check",
        type=int,
        help="customers of the real group checked beside the floor (default --customers; 0: none)",
    )
    parser.add_argument(
        "--join",
        action="store_true",
        help="also add one customer per round: targeted preview and up, as a fleet join",
    )
    parser.add_argument("--keep", type=Path, help="keep the projects under this directory")
    args = parser.parse_args(argv)
    check_customers = args.customers if args.customers_check is None else args.customers_check

    scratch = Path(tempfile.mkdtemp(prefix="tlz-preview-floor-", dir=args.keep))
    lines = [
        "| preview, no change | wall s | engine CPU s | program CPU s | "
        "provider CPU s | pack+other CPU s | total CPU s | load | exit | plan |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    try:
        floor = Floor(scratch / "floor", args.customers)
        created = floor.create()
        if created.returncode != 0:
            print(f"creating the floor project failed:\n{created.output[-3000:]}")
            return 1
        variants: list[tuple[str, str, Path | None, str | None]] = [
            ("floor, stock SDK, no pack", "stock", None, None),
            ("floor, no pack", "fast", None, None),
            ("floor, empty pack", "fast", floor.empty_pack, None),
            ("floor, this pack", "fast", ROOT / "policies", None),
            ("floor, this pack, one customer targeted", "fast", ROOT / "policies", "customer-0000"),
        ]
        group: Workspace | None = None
        if check_customers:
            group = Workspace(scratch / "group", check_customers)
            group.run("init", group.pulumi("stack", "init", "--secrets-provider", "passphrase"))
            made = create_group(group)
            if made.returncode != 0:
                notes.append(
                    f"creating the {check_customers}-customer group failed:\n{made.output[-3000:]}"
                )
                group = None
        walls: dict[str, list[float]] = {}

        def record(m: Measured) -> None:
            lines.append(row(m))
            walls.setdefault(m.label, []).append(m.cpu.wall)
            if m.returncode != 0:
                notes.append(f"{m.label} exited {m.returncode}:\n{m.output[-2000:]}")
            print(lines[-1], flush=True)

        for _ in range(args.repeat):
            for variant in variants:
                record(floor.preview(*variant))
            if group is not None:
                record(shipped(group, "check, no change"))
        for _ in range(args.repeat if args.join else 0):
            for m in floor.join():
                record(m)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print("\n".join(lines))
    median = {label: statistics.median(values) for label, values in walls.items()}
    steps = [walls.get(f"floor join: {step}", []) for step in ("preview", "up")]
    joins = [preview + up for preview, up in zip(*steps, strict=True)]
    if joins:
        shown = ", ".join(f"{seconds:.1f}" for seconds in joins)
        print(f"floor join (targeted preview + up, CLI only): {shown} s")
    reference = median.get("floor, this pack")
    if reference:
        for label, wall in median.items():
            print(f"{label}: median {wall:.1f} s wall, {wall / reference:.2f} x `floor, this pack`")
    print("\n".join(notes))
    print(f"measured at {time.strftime('%H:%M:%S')}; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
