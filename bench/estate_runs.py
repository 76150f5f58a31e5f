"""One measured operation (`up`, `preview`, `refresh`, `destroy`) on a fresh emulator and file
backend, a layout's lifecycle (one stack or split), and the hand-written floor."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from architecture import parse_tag
from bench.estate_shape import (
    PASSPHRASE,
    PROJECT,
    area_code_of,
    customer_keys,
    groups_of,
    write_stack_file,
)
from bench.floor import run_floor
from bench.measure import (
    CpuSampler,
    CpuUse,
    ProviderUse,
    descendants,
    provider_summary,
    routes_delta,
    twilio_calls,
)
from devkit.emulator_process import EmulatorProcess
from devkit.program import BIN_DIR, copy_program

# Pulumi's own dynamic-provider host serves 4 operations at once; the project's host
# (tools/provider_host, which every run here uses) serves TLZ_PROVIDER_WORKERS.
STOCK_WORKERS = 4
STOCK_PARALLEL = 8  # the CLI's default --parallel on this 2-core machine (`pulumi up --help`)


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    skip_checkpoints: bool
    parallel: int
    provider_workers: int

    def label(self) -> str:
        checkpoints = "skip" if self.skip_checkpoints else "per-step"
        return (
            f"checkpoints {checkpoints}, --parallel {self.parallel}, "
            f"provider workers {self.provider_workers}"
        )


PULUMI_DEFAULTS = Settings(
    skip_checkpoints=False, parallel=STOCK_PARALLEL, provider_workers=STOCK_WORKERS
)


# --- one measured operation -----------------------------------------------------------------


@dataclass
class OpResult:
    name: str
    wall: float
    calls: int
    cpu: CpuUse
    provider: ProviderUse
    note: str = ""
    routes: Counter = field(default_factory=Counter)


class BenchTimeout(RuntimeError):
    pass


def _kill_pulumi_processes(spare: set[int]) -> None:
    for pid in map(int, descendants(os.getpid())):
        if pid in spare:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


class Run:
    """One measurement context: an emulator, a temporary project, a file backend."""

    def __init__(
        self,
        root: Path,
        *,
        latency_ms: float,
        settings: Settings,
        op_timeout: float,
        profile: bool = False,
    ) -> None:
        self.root = root
        self.settings = settings
        self.op_timeout = op_timeout
        self.profile = profile
        self.trace_dir = root / "provider-trace"
        self.state_dir = root / "backend"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.emulator = EmulatorProcess(
            root / "emulator", extra_args=["--latency-ms", f"{latency_ms:g}"]
        )
        self.project_dir = root / "project"

    def __enter__(self) -> Run:
        self.emulator.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.emulator.stop()

    # -- project and stacks --

    def prepare_project(self, stacks: dict[str, list[str]], patches: Sequence[Path] = ()) -> None:
        copy_program(self.project_dir, stack_files=False)
        for patch in patches:
            # A proposed change to the program, measured on this copy only.
            subprocess.run(
                ["patch", "-p1", "-s", "-d", str(self.project_dir), "-i", str(patch.resolve())],
                check=True,
            )
        for stack, keys in stacks.items():
            write_stack_file(self.project_dir, stack, keys)

    def env(self) -> dict[str, str]:
        env = {
            "PULUMI_BACKEND_URL": f"file://{self.state_dir}",
            "PULUMI_HOME": str(self.root / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "TWILIO_EMULATOR_URL": self.emulator.url,
            "TLZ_PROVIDER_WORKERS": str(self.settings.provider_workers),
            "TLZ_PROVIDER_TRACE": str(self.trace_dir),
            "NO_COLOR": "1",
        }
        if self.settings.skip_checkpoints:
            env["PULUMI_SKIP_CHECKPOINTS"] = "true"
        if self.profile:
            env["TLZ_PROVIDER_PROFILE"] = "1"
        return env

    def stack(self, name: str):
        from pulumi import automation as auto

        options = auto.LocalWorkspaceOptions(
            work_dir=str(self.project_dir),
            pulumi_home=str(self.root / "pulumi-home"),
            env_vars=self.env(),
            secrets_provider="passphrase",
        )
        return auto.create_or_select_stack(name, work_dir=str(self.project_dir), opts=options)

    def cli(self, *args: str, timeout: float | None = None) -> str:
        """The CLI directly, for what the Automation API has no call for."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "TWILIO_"))}
        env.update(self.env())
        completed = subprocess.run(
            [str(BIN_DIR / "pulumi"), *args, "--non-interactive", "--color", "never"],
            cwd=self.project_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout or self.op_timeout,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"pulumi {' '.join(args)} failed:\n{completed.stdout[-4000:]}")
        return completed.stdout

    # -- measuring --

    def measure(self, name: str, action: Callable[[], Any]) -> OpResult:
        stats_before = self.emulator.stats()
        sampler = CpuSampler().start()
        started = time.time()
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = action()
            except BaseException as error:
                outcome["error"] = error

        worker = threading.Thread(target=target, name=f"bench-{name}", daemon=True)
        worker.start()
        worker.join(self.op_timeout)
        if worker.is_alive():
            _kill_pulumi_processes({self.emulator.pid or -1})
            worker.join(30)
            sampler.stop()
            raise BenchTimeout(f"{name} took longer than {self.op_timeout:.0f}s")
        cpu = sampler.stop()
        ended = time.time()
        if "error" in outcome:
            raise outcome["error"]
        stats_after = self.emulator.stats()
        note = outcome.get("value") if isinstance(outcome.get("value"), str) else ""
        return OpResult(
            name,
            cpu.wall,
            twilio_calls(stats_after) - twilio_calls(stats_before),
            cpu,
            provider_summary(self.trace_dir, started, ended),
            note,
            routes_delta(stats_before, stats_after),
        )

    # -- the estate in the emulator --

    def active_estate(self) -> tuple[int, int]:
        """(active tagged subaccounts, numbers they hold), read with the parent's client."""
        client = self.emulator.client()
        accounts = [
            account
            for account in client.api.v2010.accounts.list(page_size=1000)
            if parse_tag(account.friendly_name) and account.status == "active"
        ]
        numbers = sum(
            len(client.api.v2010.accounts(account.sid).incoming_phone_numbers.list())
            for account in accounts
        )
        return len(accounts), numbers

    def state_bytes(self, stacks: Sequence[str]) -> tuple[int, int, int]:
        """(checkpoint bytes, resources, Twilio resources) summed over the stacks."""
        import json

        total = resources = twilio = 0
        for stack in stacks:
            path = self.state_dir / ".pulumi" / "stacks" / PROJECT / f"{stack}.json"
            total += path.stat().st_size
            deployment = json.loads(path.read_text())["checkpoint"]["latest"]
            listed = deployment.get("resources") or []
            resources += len(listed)
            twilio += sum(1 for r in listed if r["type"].startswith("pulumi-python:dynamic/"))
        return total, resources, twilio


# --- a layout's lifecycle -------------------------------------------------------------------


@dataclass
class LayoutResult:
    customers: int
    layout: str
    groups: int
    latency_ms: float
    settings: Settings
    ops: dict[str, OpResult] = field(default_factory=dict)
    state: tuple[int, int, int] = (0, 0, 0)
    objects: int = 0
    problems: list[str] = field(default_factory=list)


def stacks_for(layout: str, keys: list[str], groups: int) -> dict[str, list[str]]:
    if layout == "one":
        return {"isv": keys}
    return {f"isv-g{index + 1}": group for index, group in enumerate(groups_of(keys, groups))}


def _each(stacks: list, action: Callable[[Any], Any]) -> list:
    """Run `action` on every stack side by side (one thread per stack: each drives its own
    CLI process through the Automation API)."""
    if len(stacks) == 1:
        return [action(stacks[0])]
    with ThreadPoolExecutor(max_workers=len(stacks)) as pool:
        return list(pool.map(action, stacks))


def run_layout(
    root: Path,
    *,
    customers: int,
    layout: str,
    groups: int,
    latency_ms: float,
    settings: Settings,
    operations: Sequence[str],
    op_timeout: float,
    log: Callable[[str], None],
    patches: Sequence[Path] = (),
) -> LayoutResult:
    keys = customer_keys(customers)
    plan = stacks_for(layout, keys, groups)
    result = LayoutResult(customers, layout, len(plan), latency_ms, settings)
    with Run(root, latency_ms=latency_ms, settings=settings, op_timeout=op_timeout) as run:
        run.prepare_project(plan, patches)
        stacks = [run.stack(name) for name in plan]
        parallel = settings.parallel

        result.ops["up"] = run.measure(
            "up", lambda: _each(stacks, lambda s: s.up(parallel=parallel))
        )
        active, numbers = run.active_estate()
        if (active, numbers) != (customers, 4 * customers):
            result.problems.append(
                f"after up the emulator holds {active} subaccounts and {numbers} numbers"
            )
        result.state = run.state_bytes(list(plan))
        result.objects = result.state[2]
        log(f"    up {result.ops['up'].wall:.1f}s, {result.ops['up'].calls} Twilio calls")

        if "preview" in operations:
            result.ops["preview"] = run.measure(
                "preview",
                lambda: _each(
                    stacks, lambda s: s.preview(expect_no_changes=True, parallel=parallel)
                ),
            )
        if "refresh" in operations:

            def refresh() -> str:
                results = _each(stacks, lambda s: s.refresh(parallel=parallel))
                changed = Counter()
                for refreshed in results:
                    changed.update(refreshed.summary.resource_changes or {})
                changed.pop("same", None)
                return ", ".join(f"{n} {kind}" for kind, n in changed.items()) or "no changes"

            result.ops["refresh"] = run.measure("refresh", refresh)
        if "destroy" in operations:
            result.ops["unprotect"] = run.measure(
                "unprotect",
                lambda: _each(
                    list(plan),
                    lambda name: run.cli("state", "unprotect", "--all", "--yes", "--stack", name),
                ),
            )
            result.ops["destroy"] = run.measure(
                "destroy", lambda: _each(stacks, lambda s: s.destroy(parallel=parallel))
            )
            active, numbers = run.active_estate()
            if active or numbers:
                result.problems.append(
                    f"after destroy {active} subaccounts are still active, {numbers} numbers held"
                )
    return result


def run_floor_once(root: Path, customers: int, latency_ms: float) -> OpResult:
    emulator = EmulatorProcess(root / "emulator", extra_args=["--latency-ms", f"{latency_ms:g}"])
    emulator.start()
    try:
        keys = customer_keys(customers)
        before = emulator.stats()
        sampler = CpuSampler().start()
        script_cpu = time.process_time()
        floor = run_floor(emulator.url, [(key, area_code_of(key)) for key in keys])
        # The floor runs in this process: its CPU is the script's (the official client's).
        cpu = replace(sampler.stop(), script=time.process_time() - script_cpu)
        after = emulator.stats()
    finally:
        emulator.stop()
    return OpResult(
        "floor",
        floor.seconds,
        twilio_calls(after) - twilio_calls(before),
        cpu,
        ProviderUse(),
        routes=routes_delta(before, after),
    )
