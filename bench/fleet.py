"""The fleet benchmark (issue #20): N customers in groups of `--group-size`, `python -m fleet`
against the emulator at `--latency-ms`, ratios measured in one run.

    .venv/bin/python -m bench.fleet --customers 200 --group-size 100 --latency-ms 100

For each N, with a fresh emulator whose per-account cap is the parent budget:
1. the floor: bench/floor.py's 16-thread script making the same creates (13 per customer);
2. `fleet up` from empty to converged (CPU per role, Twilio calls, peak memory of the fleet
   command and of the largest group's engine + program + provider);
3. a no-change `fleet preview` of every group (must make 0 Twilio calls);
4. adding one customer: `fleet add-customer` + `fleet changed --base HEAD` + `fleet preview`
   and `fleet up` of the one group it names, with the accounts the emulator saw touched.
Every line carries the load average, since other work shares these cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.estate_shape import area_code_of, customer_keys
from bench.floor import run_floor
from bench.measure import CpuSampler, CpuUse, command_line, role_of_command, twilio_calls
from devkit.emulator_process import EmulatorProcess
from devkit.program import REPO_ROOT, copy_program
from fleet.catalog import (
    ARCHITECTURE,
    CustomerSpec,
    customer_tenant,
    group_name,
    load_settings,
    new_group_document,
    write_group,
)
from twilio_access.dev_defaults import DEV_ACCOUNT_SID

PASSPHRASE = "twilio-landing-zone-local"
# Twilio's cap on a parent's open subaccounts (the emulator's default, `--max-subaccounts`).
TWILIO_SUBACCOUNT_LIMIT = 1000
# The customers a run adds after the N it starts with (one joins an existing fleet).
ADDED_CUSTOMERS_HEADROOM = 10


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def fleet_role(pid: str) -> str:
    """bench/measure.py's roles, with the fleet command, the policy pack's analyzer and the
    language host apart (measure.py counts them as `other` and `program`)."""
    argv = command_line(pid)
    if argv is None:
        return "other"
    joined = " ".join(argv)
    if "-m fleet" in joined:
        return "fleet"
    if "-m pulumi.policy" in joined:
        return "pack"
    if "language_host/host.py" in joined:
        return "language host"
    return role_of_command(argv)


# --- memory -----------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _kib(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


class MemorySampler:
    """Peak RSS of one process (its VmHWM) and the largest sum of RSS over a `pulumi` engine
    and its descendants (one group's engine + program + provider), sampled."""

    def __init__(self, root_pid: int, interval: float = 0.5) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.root_peak_kib = 0
        self.group_peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        names: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                status = _status(int(entry))
                if status:
                    pid = int(entry)
                    parents[pid] = int(status.get("PPid", "0"))
                    rss[pid] = _kib(status.get("VmRSS"))
                    names[pid] = status.get("Name", "").strip()
        root = _status(self.root_pid)
        self.root_peak_kib = max(self.root_peak_kib, _kib(root.get("VmHWM")))
        children: dict[int, list[int]] = {}
        for pid, parent in parents.items():
            children.setdefault(parent, []).append(pid)
        for engine in children.get(self.root_pid, []):
            if names.get(engine) != "pulumi":
                continue
            total, stack = 0, [engine]
            while stack:
                pid = stack.pop()
                total += rss.get(pid, 0)
                stack += children.get(pid, [])
            self.group_peak_kib = max(self.group_peak_kib, total)


# --- running the fleet ------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    wall: float
    calls: int
    load: str
    cpu: CpuUse | None = None
    fleet_peak_mib: float = 0.0
    group_peak_mib: float = 0.0
    accounts: Counter[str] = field(default_factory=Counter)
    output: str = ""


def subaccount_limit_args(customers: int) -> list[str]:
    """Twilio allows a parent 1,000 open subaccounts until Twilio support raises it, as it does
    for ISVs; a benchmark of N customers (N+1 with the one it adds) past that raises the
    emulator's cap the same way, with room for the customers the run adds."""
    needed = customers + ADDED_CUSTOMERS_HEADROOM
    return [] if needed <= TWILIO_SUBACCOUNT_LIMIT else ["--max-subaccounts", str(needed)]


def fleet_emulator(root: Path, args: argparse.Namespace, customers: int = 0) -> EmulatorProcess:
    """The emulator a benchmarked fleet talks to: the injected latency, the parent's
    concurrency cap that the fleet's in-flight budget must respect, and a subaccount cap
    raised when `customers` need it."""
    return EmulatorProcess(
        root / "emulator",
        extra_args=[
            "--latency-ms",
            f"{args.latency_ms:g}",
            "--account-concurrency-limit",
            str(args.parent_in_flight),
            *subaccount_limit_args(customers),
        ],
    )


def fleet_env(checkout: Path, root: Path, emulator_url: str) -> dict[str, str]:
    """The environment of `checkout`'s fleet command, as an operator runs it from the checkout
    (it finds the engine, virtualenv and scripts beside itself), with state under `root`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "TWILIO_", "TLZ_"))}
    env.update(
        {
            "PATH": f"{checkout / '.bin'}:{checkout / '.venv' / 'bin'}:{env.get('PATH', '')}",
            "PYTHONPATH": str(checkout),
            "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
            "PULUMI_HOME": str(root / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "TWILIO_EMULATOR_URL": emulator_url,
            "NO_COLOR": "1",
        }
    )
    return env


class FleetBench:
    def __init__(self, root: Path, customers: int, args: argparse.Namespace) -> None:
        self.root = root
        self.customers = customers
        self.args = args
        self.project = root / "project"
        self.emulator = fleet_emulator(root, args, customers)

    def env(self) -> dict[str, str]:
        return fleet_env(REPO_ROOT, self.root, self.emulator.url)

    def prepare(self) -> None:
        copy_program(self.project, stack_files=False)
        shutil.copytree(
            REPO_ROOT / "policies",
            self.project / "policies",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        text = (REPO_ROOT / "fleet.yaml").read_text()
        size = self.args.group_size
        (self.project / "fleet.yaml").write_text(
            text.replace("max_customers_per_group: 150", f"max_customers_per_group: {size}")
        )
        settings = load_settings(self.project)
        keys = customer_keys(self.customers)
        for number in range(1, math.ceil(len(keys) / size) + 1):
            chunk = keys[(number - 1) * size : number * size]
            tenants = [
                customer_tenant(settings, CustomerSpec(k, f"Customer {k}", area_code_of(k)))
                for k in chunk
            ]
            document = new_group_document(settings, tenants[0])
            document["config"][ARCHITECTURE]["tenants"] = tenants
            name = group_name(settings, number)
            write_group(self.project / f"Pulumi.{name}.yaml", document, name)
        (self.project / ".gitignore").write_text(".state/\n__pycache__/\n")
        self.git("init", "-q", "-b", "main")
        self.commit("the fleet")

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

    def fleet(self, *args: str) -> tuple[str, float, float, float]:
        """Runs `python -m fleet ...`; (output, wall, fleet peak MiB, group peak MiB)."""
        command = [sys.executable, "-m", "fleet", "--project-dir", str(self.project), *args]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=self.project,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        with MemorySampler(process.pid) as memory:
            output, _ = process.communicate(timeout=self.args.op_timeout)
        wall = time.monotonic() - started
        if process.returncode != 0:
            raise RuntimeError(f"fleet {' '.join(args)} failed:\n{output[-4000:]}")
        return output, wall, memory.root_peak_kib / 1024, memory.group_peak_kib / 1024

    def measured(self, name: str, *args: str) -> Step:
        before = self.emulator.stats()
        sampler = CpuSampler(role_of=fleet_role).start()
        output, wall, fleet_mib, group_mib = self.fleet(*args)
        cpu = sampler.stop()
        after = self.emulator.stats()
        accounts = Counter(after["by_account"])
        accounts.subtract(before["by_account"])
        return Step(
            name,
            wall,
            twilio_calls(after) - twilio_calls(before),
            load(),
            cpu,
            fleet_mib,
            group_mib,
            +accounts,
            output,
        )

    def subaccounts(self) -> dict[str, str]:
        client = self.emulator.client()
        return {
            a.sid: a.friendly_name
            for a in client.api.v2010.accounts.list()
            if a.sid != DEV_ACCOUNT_SID and a.status == "active"
        }


def run_floor_step(root: Path, customers: int, latency_ms: float) -> Step:
    emulator = EmulatorProcess(
        root / "floor-emulator",
        extra_args=["--latency-ms", f"{latency_ms:g}", *subaccount_limit_args(customers)],
    )
    emulator.start()
    try:
        keys = customer_keys(customers)
        floor = run_floor(emulator.url, [(key, area_code_of(key)) for key in keys])
        calls = twilio_calls(emulator.stats())
    finally:
        emulator.stop()
    return Step("floor (16 threads)", floor.seconds, calls, load())


def bench_one(root: Path, customers: int, args: argparse.Namespace) -> list[Step]:
    steps = [run_floor_step(root, customers, args.latency_ms)]
    print(f"  floor: {steps[0].wall:.1f}s ({steps[0].load})", flush=True)
    bench = FleetBench(root, customers, args)
    bench.emulator.start()
    try:
        bench.prepare()
        # `--skip-preview`: the up alone, as the floor makes its creates with no preview (the
        # no-change preview is measured on its own below).
        up = bench.measured(
            "fleet up, empty -> converged", "up", "--skip-preview", *args.fleet_args
        )
        steps.append(up)
        found = bench.subaccounts()
        assert len(found) == customers == len(set(found.values())), (len(found), customers)
        print(f"  up: {up.wall:.1f}s ({up.load})", flush=True)
        preview = bench.measured("fleet preview, no change", "preview", *args.fleet_args)
        steps.append(preview)
        assert preview.calls == 0, f"a no-change preview made {preview.calls} Twilio calls"
        print(f"  preview: {preview.wall:.1f}s ({preview.load})", flush=True)
        steps.append(add_one_customer(bench, set(found)))
    finally:
        bench.emulator.stop()
    return steps


def add_one_customer(bench: FleetBench, existing: set[str]) -> Step:
    """add-customer + changed + preview + up of the one group, timed as one operation."""
    before = bench.emulator.stats()
    started = time.monotonic()
    added, _, _, _ = bench.fleet("add-customer", "newcomer", "--name", "Newcomer")
    group = next(line for line in added.splitlines() if line and not line.startswith("fleet:"))
    changed, _, _, _ = bench.fleet("changed", "--base", "HEAD", "--json")
    matrix = json.loads(next(line for line in changed.splitlines() if line.startswith("{")))
    assert [entry["group"] for entry in matrix["include"]] == [group], matrix
    bench.fleet("preview", "--groups", group)
    # The preview just before is the gate: the up does not preview again.
    output, _, fleet_mib, group_mib = bench.fleet("up", "--groups", group, "--skip-preview")
    wall = time.monotonic() - started
    after = bench.emulator.stats()
    accounts = Counter(after["by_account"])
    accounts.subtract(before["by_account"])
    touched = +accounts
    new = set(bench.subaccounts()) - existing
    others = sorted(set(touched) - new - {DEV_ACCOUNT_SID})
    assert not others, f"adding one customer touched other customers' accounts: {others}"
    return Step(
        f"add one customer ({group}): add-customer + changed + preview + up",
        wall,
        twilio_calls(after) - twilio_calls(before),
        load(),
        None,
        fleet_mib,
        group_mib,
        touched,
        output,
    )


def report(customers: int, args: argparse.Namespace, steps: Sequence[Step]) -> None:
    floor = steps[0]
    groups = math.ceil(customers / args.group_size)
    print(
        f"\n== N={customers} customers, {groups} group(s) of {args.group_size}, "
        f"{args.latency_ms:g} ms per Twilio request, parent budget {args.parent_in_flight} =="
    )
    print(f"{'step':<70} {'wall s':>8} {'x floor':>8} {'calls':>7}  load (1/5/15 min)")
    for step in steps:
        ratio = f"{step.wall / floor.wall:.2f}" if step is not floor else "1.00"
        print(f"{step.name:<70} {step.wall:8.1f} {ratio:>8} {step.calls:7d}  {step.load}")
    up = steps[1]
    if up.cpu is not None:
        cpu = up.cpu
        print(
            f"up, CPU seconds: engine {cpu.engine:.1f}, program {cpu.program:.1f}, provider "
            f"{cpu.provider:.1f}, policy pack {cpu.sampled.get('pack', 0.0):.1f}, language host "
            f"{cpu.sampled.get('language host', 0.0):.1f}, fleet command "
            f"{cpu.sampled.get('fleet', 0.0):.1f}; Twilio: "
            f"{up.calls} requests x {args.latency_ms:g} ms = "
            f"{up.calls * args.latency_ms / 1000:.0f} request-seconds of waiting"
        )
    for step in steps[1:]:
        print(
            f"{step.name}: peak RSS fleet command {step.fleet_peak_mib:.0f} MiB, "
            f"largest group (engine+program+provider) {step.group_peak_mib:.0f} MiB"
        )
    added = steps[-1]
    touched = ", ".join(
        f"{'parent' if sid == DEV_ACCOUNT_SID else 'new subaccount ' + sid[:10] + '…'}: {n}"
        for sid, n in sorted(added.accounts.items())
    )
    print(f"add one customer: requests by account touched: {touched} (no other account)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--customers", default="200", help="comma-separated N values")
    parser.add_argument("--group-size", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--parent-in-flight", type=int, default=32, help="also the emulator cap")
    parser.add_argument("--concurrency", type=int, help="groups at once (default: fleet's)")
    parser.add_argument("--op-timeout", type=float, default=7200.0)
    parser.add_argument("--keep", type=Path, help="keep the work here instead of a temp dir")
    args = parser.parse_args(argv)
    args.fleet_args = ["--parent-in-flight", str(args.parent_in_flight)]
    if args.concurrency:
        args.fleet_args += ["--concurrency", str(args.concurrency)]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for customers in [int(n) for n in args.customers.split(",") if n]:
        root = (
            args.keep / f"n{customers}"
            if args.keep
            else Path(tempfile.mkdtemp(prefix="tlz-fleet-bench-"))
        )
        root.mkdir(parents=True, exist_ok=True)
        print(f"N={customers}: working in {root} ({load()})", flush=True)
        try:
            report(customers, args, bench_one(root, customers, args))
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
