"""Adding one customer to an existing group of the fleet (issue #20, item 5), this checkout
against another one (say a worktree of main) side by side in one run.

    .venv/bin/python -m bench.fleet_join --customers 100 --baseline /path/to/main [--repeat 2]

For each checkout (its own program, pack, fleet command, virtualenv and engine; the baseline
after its own `make setup`): a fleet of one group of N customers, as each checkout's
`fleet add-customer` would write it (this checkout's fleet.yaml puts it in a catalog file when
it sets `catalog_dir`; the baseline's inline), converged by `fleet up` on an emulator of its
own at `--latency-ms` per request. Then, alternating the checkouts so both see the same load,
one timed operation per round: `fleet add-customer` (the group has room, so the customer joins
it), `fleet changed --base HEAD --json`, `fleet preview --groups G` and `fleet up --groups G`
(with `--base HEAD` where the checkout's fleet has it: only the joining customer is run, and
`--skip-preview` on the up, since the preview just before is the gate).
Every row has the CPU of the processes it ran by role and the load average; the emulator's
request count shows that only the parent and the new subaccount were asked anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.estate_shape import area_code_of, customer_keys
from bench.fleet import fleet_emulator, fleet_env, fleet_role
from bench.measure import CpuSampler, CpuUse, twilio_calls
from devkit.program import PROGRAM_PACKAGES, REPO_ROOT
from fleet.catalog import (
    ARCHITECTURE,
    CustomerSpec,
    customer_tenant,
    group_name,
    load_settings,
    new_catalog_group,
    new_group_document,
    write_catalog,
    write_group,
)

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def load() -> float:
    return os.getloadavg()[0]


@dataclass
class Joined:
    side: str
    wall: float
    cpu: CpuUse
    calls: int
    accounts: int  # Twilio accounts the operation's requests went to
    load: float
    steps: dict[str, float]  # wall seconds of each fleet command, in order


class Side:
    """One checkout's fleet: a project directory, a file backend and an emulator of its own."""

    def __init__(self, name: str, checkout: Path, root: Path, args: argparse.Namespace) -> None:
        self.name = name
        self.checkout = checkout
        self.root = root
        self.args = args
        self.project = root / "project"
        self.emulator = fleet_emulator(root, args, args.customers + args.repeat)

    def env(self) -> dict[str, str]:
        return fleet_env(self.checkout, self.root, self.emulator.url)

    def prepare(self, customers: int) -> None:
        """The checkout's program, pack and fleet command, and one group of N customers."""
        self.project.mkdir(parents=True)
        for package in (*PROGRAM_PACKAGES, "policies"):
            shutil.copytree(self.checkout / package, self.project / package, ignore=_IGNORED)
        for name in ("__main__.py", "fleet.yaml"):
            shutil.copy2(self.checkout / name, self.project / name)
        (self.project / "Pulumi.yaml").write_text(
            "name: twilio-landing-zone\nruntime:\n  name: python\n  options:\n"
            f"    toolchain: pip\n    virtualenv: {self.checkout / '.venv'}\n"
            "plugins:\n  providers:\n    - name: pulumi-python\n"
            f"      path: {self.checkout / 'tools' / 'provider_host'}\n"
        )
        settings = load_settings(self.project)
        tenants = [
            customer_tenant(settings, CustomerSpec(k, f"Customer {k}", area_code_of(k)))
            for k in customer_keys(customers)
        ]
        name = group_name(settings, 1)
        path = self.project / f"Pulumi.{name}.yaml"
        if settings.catalog_dir is None:
            document = new_group_document(settings, tenants[0])
            document["config"][ARCHITECTURE]["tenants"] = tenants
        else:
            document, catalog = new_catalog_group(settings, tenants[0], name)
            write_catalog(settings, document, catalog, tenants, name)
        write_group(path, document, name)
        (self.project / ".gitignore").write_text(".state/\n__pycache__/\n")
        self.git("init", "-q", "-b", "main")
        self.commit("the fleet")
        _ = self.targets  # asked once here, outside the timed operation

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=b@example.com", "-c", "user.name=bench", *args],
            cwd=self.project,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", message)

    @cached_property
    def targets(self) -> bool:
        """Whether the checkout's fleet can run only the customers changed since a ref."""
        return "--base" in self.fleet("preview", "--help")

    def join_options(self, operation: str) -> list[str]:
        """A checkout that can: the preview and up target the changed customers (`--base
        HEAD`, the commit the group was converged from), and the up does not preview again
        (the preview just before is the gate, as the baseline's up has none)."""
        if not self.targets:
            return []
        return ["--base", "HEAD", *(["--skip-preview"] if operation == "up" else [])]

    def fleet(self, *args: str) -> str:
        python = self.checkout / ".venv" / "bin" / "python"
        command = [str(python), "-m", "fleet", "--project-dir", str(self.project), *args]
        completed = subprocess.run(
            command,
            cwd=self.project,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=self.args.op_timeout,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"{self.name}: fleet {' '.join(args)} failed:\n{completed.stderr[-3000:]}"
            )
        return completed.stdout

    def join(self, key: str) -> Joined:
        """add-customer + changed + preview + up of the group, as one timed operation."""
        before = self.emulator.stats()
        sampler = CpuSampler(role_of=fleet_role).start()
        steps: dict[str, float] = {}

        def timed(step: str, *args: str) -> str:
            started = time.perf_counter()
            output = self.fleet(step, *args)
            steps[step] = time.perf_counter() - started
            return output

        group = timed("add-customer", key, "--name", key.title()).strip()
        changed = timed("changed", "--base", "HEAD", "--json")
        matrix = json.loads(next(line for line in changed.splitlines() if line.startswith("{")))
        assert [entry["group"] for entry in matrix["include"]] == [group], matrix
        previewed = timed("preview", "--groups", group, *self.join_options("preview"))
        updated = timed("up", "--groups", group, *self.join_options("up"))
        cpu = sampler.stop()
        targeted = [output for output in (previewed, updated) if "targeted:" in output]
        after = self.emulator.stats()
        accounts = {
            sid
            for sid, count in after["by_account"].items()
            if count != before["by_account"].get(sid, 0)
        }
        self.commit(f"{key} joined {group}")
        assert group == "prod-g01", f"{self.name}: {key} went to {group}, not the existing group"
        return Joined(
            f"{self.name} ({len(targeted)} of 2 runs targeted)" if self.targets else self.name,
            cpu.wall,
            cpu,
            twilio_calls(after) - twilio_calls(before),
            len(accounts),
            load(),
            steps,
        )


def row(joined: Joined) -> str:
    cpu = joined.cpu
    sampled = cpu.sampled
    fleet_cpu, pack = sampled.get("fleet", 0.0), sampled.get("pack", 0.0)
    # The language host starts twice per engine; it is the program's, as measure.py counts it.
    program = cpu.program + sampled.get("language host", 0.0)
    total = cpu.engine + program + cpu.provider + pack + fleet_cpu + sampled.get("other", 0.0)
    return (
        f"| {joined.side} | {joined.wall:.1f} | {cpu.engine:.1f} | {program:.1f} | "
        f"{cpu.provider:.1f} | {pack:.1f} | {fleet_cpu:.1f} | {total:.1f} | {joined.calls} | "
        f"{joined.accounts} | {joined.load:.1f} | "
        + ", ".join(f"{step} {seconds:.1f}" for step, seconds in joined.steps.items())
        + " |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_join", description=__doc__)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--baseline", type=Path, help="another checkout, alternated with this")
    parser.add_argument("--repeat", type=int, default=1, help="customers added per checkout")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--parent-in-flight", type=int, default=32, help="also the emulator cap")
    parser.add_argument("--op-timeout", type=float, default=3600.0)
    parser.add_argument("--keep", type=Path, help="keep the work here instead of a temp dir")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="tlz-fleet-join-", dir=args.keep))
    sides = [Side("this checkout", REPO_ROOT, scratch / "this", args)]
    if args.baseline:
        sides.append(Side("baseline", args.baseline.resolve(), scratch / "baseline", args))
    lines = [
        f"| N={args.customers}, one group, {args.latency_ms:g} ms | wall s | engine CPU s | "
        "program CPU s | provider CPU s | pack CPU s | fleet command CPU s | total CPU s | "
        "Twilio calls | accounts asked | load | wall s per command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    try:
        for side in sides:
            side.emulator.start()
            side.prepare(args.customers)
            started = time.monotonic()
            side.fleet("up", "--parent-in-flight", str(args.parent_in_flight))
            print(
                f"{side.name}: {args.customers} customers converged in "
                f"{time.monotonic() - started:.1f} s (load {load():.1f})",
                flush=True,
            )
        for round_ in range(args.repeat):
            order = sides if round_ % 2 == 0 else list(reversed(sides))
            for side in order:
                lines.append(row(side.join(f"newcomer-{round_ + 1:02d}")))
                print(lines[-1], flush=True)
    finally:
        for side in sides:
            side.emulator.stop()
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print("\n".join(lines))
    print(f"measured at {time.strftime('%H:%M:%S')}; load average {load():.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
