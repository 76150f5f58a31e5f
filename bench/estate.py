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
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from architecture import build_plan, load_stack_config, parse_tag
from bench.floor import run_floor
from bench.measure import (
    CpuSampler,
    CpuUse,
    ProviderUse,
    provider_summary,
    routes_delta,
    twilio_calls,
)
from bench.provider_host import STOCK_WORKERS, write_plugin_dir
from devkit.emulator_process import EmulatorProcess
from devkit.program import BIN_DIR, VENV_DIR, copy_program
from emulator.inventory import LOCAL_AREA_CODES

PROJECT = "twilio-landing-zone"
PASSPHRASE = "twilio-landing-zone-bench"
COLLECTOR_URL = "https://hooks.example.com/twilio/status"
US_AREA_CODES = tuple(area.npa for area in LOCAL_AREA_CODES if area.country == "US")
USE_CASES = ("notifications", "verification")
# Twilio objects per customer the program manages: subaccount, its default service, 2 keys,
# 2 services, 2 sender pools, 4 numbers.
OBJECTS_PER_CUSTOMER = 12
STOCK_PARALLEL = 8  # the CLI's default --parallel on this 2-core machine (`pulumi up --help`)


# --- the estate -----------------------------------------------------------------------------


def customer_keys(count: int) -> list[str]:
    return [f"customer-{index:04d}" for index in range(1, count + 1)]


def area_code_of(key: str) -> str:
    return US_AREA_CODES[int(key.rsplit("-", 1)[1]) % len(US_AREA_CODES)]


def tenant(key: str) -> dict[str, Any]:
    number = key.rsplit("-", 1)[1]
    return {
        "key": key,
        "display_name": f"Customer {number}",
        "environment": "production",
        "role": "customer",
        "api_keys": [
            # Production keys are restricted (the model refuses a standard one there).
            {
                "name": "backend",
                "kind": "restricted",
                "permissions": ["/twilio/messaging/messages/create"],
            },
            {
                "name": "reporting",
                "kind": "restricted",
                "permissions": ["/twilio/messaging/messages/read"],
            },
        ],
        "services": [
            {
                "use_case": use_case,
                "webhooks": {"status_callback": "collector"},
                "senders": {
                    "phone_numbers": {
                        "count": 2,
                        "country": "US",
                        "area_code": area_code_of(key),
                        # Decommissioning: lets `destroy` release the numbers (see the docstring).
                        "release_on_delete": True,
                    }
                },
            }
            for use_case in USE_CASES
        ],
    }


def stack_document(keys: Sequence[str]) -> dict[str, Any]:
    return {
        "config": {
            f"{PROJECT}:collectorUrl": COLLECTOR_URL,
            f"{PROJECT}:architecture": {
                "style": "isv",
                "environments": ["production"],
                "tenants": [tenant(key) for key in keys],
            },
        }
    }


def write_stack_file(project_dir: Path, stack: str, keys: Sequence[str]) -> Path:
    """Pulumi.<stack>.yaml for these customers, validated as `pulumi up` would validate it."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    header = f"# ISV production estate, {len(keys)} customers (bench/estate.py).\n"
    path.write_text(header + yaml.safe_dump(stack_document(keys), sort_keys=False))
    settings = load_stack_config(path, PROJECT)
    counts = build_plan(settings).counts
    assert counts.accounts == len(keys) and counts.phone_numbers == 4 * len(keys), counts
    return path


def groups_of(keys: Sequence[str], groups: int) -> list[list[str]]:
    """Contiguous customer groups of (nearly) equal size."""
    groups = max(1, min(groups, len(keys)))
    size, extra = divmod(len(keys), groups)
    result, start = [], 0
    for index in range(groups):
        end = start + size + (1 if index < extra else 0)
        result.append(list(keys[start:end]))
        start = end
    return result


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


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                raw = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        parents[int(entry)] = int(raw[raw.rfind(")") + 2 :].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _kill_pulumi_processes(spare: set[int]) -> None:
    for pid in _descendants(os.getpid()):
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
        plugin_dir = write_plugin_dir(self.root / "plugin", str(VENV_DIR / "bin" / "python"))
        (self.project_dir / "Pulumi.yaml").write_text(
            f"name: {PROJECT}\n"
            "runtime:\n  name: python\n  options:\n    toolchain: pip\n"
            f"    virtualenv: {VENV_DIR}\n"
            "plugins:\n  providers:\n"
            f"    - name: pulumi-python\n      path: {plugin_dir}\n"
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


# --- the profile ----------------------------------------------------------------------------

# Where the program's loop thread spends its CPU: (label, pstats key predicate).
PROGRAM_PARTS = (
    (
        "waiting for outstanding outputs (the SDK's loop, or components/sdk_overhead.py's)",
        lambda file, func: (
            (file.endswith("pulumi/runtime/stack.py") and func == "wait_for_rpcs")
            or (file.endswith("components/sdk_overhead.py") and func == "drain_outputs")
        ),
    ),
    (
        "building the resource graph (__main__: components, pydantic, dill, stack traces)",
        lambda file, func: file == "__main__.py" and func == "<module>",
    ),
    (
        "  of which: capturing each resource's stack trace",
        lambda file, func: (
            file.endswith("pulumi/runtime/resource.py") and func == "_get_stack_trace"
        ),
    ),
    (
        "RegisterResource calls (serializing inputs, gRPC to the engine)",
        lambda file, func: file.endswith("pulumi/runtime/resource.py") and func == "do_register",
    ),
    (
        "SDK debug messages (each one a blocking Log RPC; off unless TLZ_SDK_DEBUG=1)",
        lambda file, func: file.endswith("pulumi/log.py") and func == "debug",
    ),
)


def _cumulative(stats, predicate) -> float:
    return sum(entry[3] for (file, _, func), entry in stats.stats.items() if predicate(file, func))


def _go() -> str | None:
    return shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )


def run_profile(
    root: Path, *, customers: int, latency_ms: float, settings: Settings, op_timeout: float
) -> list[str]:
    """One more `up` of the estate as one stack, with every process profiled."""
    import pstats

    lines = []
    with Run(
        root, latency_ms=latency_ms, settings=settings, op_timeout=op_timeout, profile=True
    ) as run:
        run.prepare_project({"isv": customer_keys(customers)})
        main = run.project_dir / "__main__.py"
        main.rename(run.project_dir / "_program_main.py")
        shutil.copy2(Path(__file__).with_name("profiled_main.py"), main)
        program_profile = root / "program.pstats"
        base_env = run.env
        run.env = lambda: {**base_env(), "TLZ_PROGRAM_PROFILE": str(program_profile)}
        run.stack("isv")
        engine_prefix = root / "engine"
        up = run.measure(
            "up",
            lambda: run.cli(
                "up",
                "--yes",
                "--skip-preview",
                "--stack",
                "isv",
                "--parallel",
                str(settings.parallel),
                "--profiling",
                str(engine_prefix),
            ),
        )
    cpu = up.cpu
    lines.append("")
    lines.append(
        f"== Profile: up of N={customers} as one stack, {latency_ms:g} ms ({settings.label()}) =="
    )
    lines.append(
        f"wall {up.wall:.1f}s; CPU engine {cpu.engine:.1f}s, program {cpu.program:.1f}s, "
        f"provider {cpu.provider:.1f}s, emulator {cpu.emulator:.1f}s (profilers add their own)"
    )
    if program_profile.exists():
        stats = pstats.Stats(str(program_profile))
        total = stats.total_tt
        lines.append(f"program: CPU of its loop thread {total:.1f}s (cProfile), spent in")
        for label, predicate in PROGRAM_PARTS:
            part = _cumulative(stats, predicate)
            lines.append(f"  {label:<86} {part:6.1f}s {part / total:5.0%}")
    profiles = sorted((run.trace_dir).glob("provider-*.pstats"))
    if profiles:
        stats = pstats.Stats(*map(str, profiles))
        own = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:8]
        lines.append(
            f"provider: CPU of its serving threads {stats.total_tt:.1f}s; most own time in"
        )
        for (file, line, func), entry in own:
            where = "/".join(Path(file).parts[-2:]) if "/" in file else file
            lines.append(f"  {entry[2]:6.2f}s  {func} ({where}:{line})")
    cpu_profiles = sorted(root.glob("engine.*.cpu"))
    go = _go()
    if cpu_profiles and go:
        largest = max(cpu_profiles, key=lambda path: path.stat().st_size)
        top = subprocess.run(
            [go, "tool", "pprof", "-top", "-nodecount=12", str(largest)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines.append("engine (pulumi CLI, go tool pprof -top):")
        report = top.stdout.splitlines()
        start = next((i for i, line in enumerate(report) if line.startswith("Duration")), 0)
        lines += ["  " + line for line in report[start:] if line.strip()]
    elif cpu_profiles:
        lines.append(f"engine: CPU profile in {cpu_profiles[0]} (no Go toolchain to read it)")
    return lines


# --- the report -----------------------------------------------------------------------------


def _fmt_s(seconds: float | None) -> str:
    return "      -" if seconds is None else f"{seconds:6.1f}s"


def _cell(op: OpResult | None) -> str:
    """`  12.3s (  456)`: an operation's wall time and its Twilio calls."""
    return f"{_fmt_s(None)} (    -)" if op is None else f"{_fmt_s(op.wall)} ({op.calls:5d})"


def _layout(result: LayoutResult) -> str:
    return result.layout if result.layout == "one" else f"split/{result.groups}"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator:
        return "-"
    return f"{numerator / denominator:5.2f}"


def _growth(points: list[tuple[int, float]]) -> str:
    """Cost per customer at each N, and the exponent k of time ~ N^k between the ends."""
    if not points:
        return "-"
    per = ", ".join(f"N={n}: {t / n * 1000:.0f} ms" for n, t in points)
    steps = [
        f"N={n1}->{n2}: N^{math.log(t2 / t1) / math.log(n2 / n1):.2f}"
        for (n1, t1), (n2, t2) in itertools.pairwise(points)
        if n2 != n1 and t1 > 0 and t2 > 0
    ]
    return per + (f"  (time grows as {', '.join(steps)})" if steps else "")


def print_report(
    results: list[LayoutResult],
    floors: dict[tuple[int, float], OpResult],
    levers: list[tuple[str, LayoutResult]],
    latency_ms: float,
    settings: Settings,
    out: Callable[[str], None] = print,
) -> None:
    main = [r for r in results if r.latency_ms == latency_ms]
    zero = [r for r in results if r.latency_ms == 0 and latency_ms != 0]
    out("")
    out(f"== Estate benchmark: {settings.label()}; emulator latency {latency_ms:g} ms ==")
    out(
        "N     layout       up      floor  up/floor   preview (calls)   refresh (calls, per obj)"
        "   destroy (calls)   up calls/customer  state/resource  state/Twilio object"
    )
    for r in main:
        floor = floors.get((r.customers, r.latency_ms))
        up, refresh = r.ops["up"], r.ops.get("refresh")
        total, resources, twilio = r.state
        per_object = f"{refresh.calls / r.objects:4.2f}" if refresh and r.objects else "   -"
        out(
            f"{r.customers:<5} {_layout(r):<9} {_fmt_s(up.wall)} {_fmt_s(floor and floor.wall)}"
            f"  {_ratio(up.wall, floor and floor.wall)}   {_cell(r.ops.get('preview'))}"
            f"   {_cell(refresh)[:-1]}, {per_object})   {_cell(r.ops.get('destroy'))}"
            f"   {up.calls / r.customers:12.1f}"
            f"        {total / resources / 1024 if resources else 0:6.2f} KB"
            f"      {total / twilio / 1024 if twilio else 0:6.2f} KB"
        )
    floor_calls = {n: f.calls for (n, lat), f in floors.items() if lat == latency_ms}
    if floor_calls:
        n, calls = max(floor_calls.items())
        out(f"floor: {calls} creates for N={n} ({calls / n:.0f} per customer), 16 threads")
    unprotect = [r.ops["unprotect"].wall for r in main if "unprotect" in r.ops]
    if unprotect:
        out(
            "destroy is preceded by `pulumi state unprotect --all` (production estate), "
            f"not counted above: {min(unprotect):.1f}-{max(unprotect):.1f}s"
        )
    notes = [
        f"N={r.customers} {r.layout}: refresh found {r.ops['refresh'].note}"
        for r in main
        if "refresh" in r.ops and r.ops["refresh"].note != "no changes"
    ]
    notes += [f"N={r.customers} {r.layout}: {p}" for r in results for p in r.problems]
    for note in notes:
        out(f"  ! {note}")

    if zero:
        out("")
        out("== Ratio at 0 ms (loopback: orchestration CPU against the client's own) ==")
        out("N     layout      up      floor  up/floor")
        for r in zero:
            floor = floors.get((r.customers, 0))
            up = r.ops["up"]
            layout = r.layout if r.layout == "one" else f"split/{r.groups}"
            out(
                f"{r.customers:<5} {layout:<9} {_fmt_s(up.wall)} "
                f"{_fmt_s(floor.wall if floor else None)}  {_ratio(up.wall, floor and floor.wall)}"
            )

    if main:
        _print_routes(main[-1] if len(main) == 1 else _largest(main), floors, out)

    out("")
    out("== How up grows with N (time per customer) ==")
    for layout in dict.fromkeys(r.layout for r in main):
        points = [(r.customers, r.ops["up"].wall) for r in main if r.layout == layout]
        out(f"{layout:<6} {_growth(points)}")
    floor_points = sorted((n, f.wall) for (n, lat), f in floors.items() if lat == latency_ms)
    out(f"floor  {_growth(floor_points)}")

    out("")
    out(f"== Where up's time goes ({latency_ms:g} ms) ==")
    out(
        "N     layout      wall   provider busy  in flight (peak)  CPU engine  program"
        "  provider  emulator  cores busy"
    )
    for r in main:
        _split_line(r.customers, r.layout, r.groups, r.ops["up"], out)
    for (n, lat), floor in sorted(floors.items()):
        if lat == latency_ms:
            _split_line(n, "floor", 0, floor, out)

    if levers:
        out("")
        n = levers[0][1].customers
        out(f"== Levers, one at a time (up of N={n}, one run each, side by side) ==")
        out(
            "settings                                                         wall  up/floor"
            "  engine CPU  program  provider  provider busy  in flight  state/resource"
        )
        for label, r in levers:
            up = r.ops["up"]
            floor = floors.get((r.customers, r.latency_ms))
            total, resources, _ = r.state
            out(
                f"{label:<62} {_fmt_s(up.wall)}  {_ratio(up.wall, floor and floor.wall)}"
                f"    {up.cpu.engine:7.1f}s  {up.cpu.program:6.1f}s  {up.cpu.provider:7.1f}s"
                f"  {up.provider.busy:12.1f}s  {up.provider.mean_in_flight:6.1f}"
                f"     {total / resources / 1024 if resources else 0:6.2f} KB"
            )
        labels = [label for label, _ in levers[:2]]
        if len(labels) == 2 and labels[0].startswith("Pulumi defaults") and "SKIP" in labels[1]:
            kept, skipped = levers[0][1].ops["up"], levers[1][1].ops["up"]
            out(
                f"per-step checkpoints cost {kept.wall - skipped.wall:.1f}s of wall time and "
                f"{kept.cpu.engine - skipped.cpu.engine:.1f}s of engine CPU here (rows 1-2); "
                "with PULUMI_SKIP_CHECKPOINTS the state is written once, at the end"
            )


def _largest(results: list[LayoutResult]) -> LayoutResult:
    return max(results, key=lambda r: (r.customers, r.layout == "one"))


def _print_routes(r: LayoutResult, floors: dict, out) -> None:
    """Twilio calls per operation and route, per customer, for one layout."""
    columns = [(name, r.ops.get(name)) for name in ("up", "preview", "refresh", "destroy")]
    columns = [(name, op) for name, op in columns if op is not None]
    floor = floors.get((r.customers, r.latency_ms))
    if floor is not None:
        columns.append(("floor", floor))
    routes = sorted(set().union(*(op.routes for _, op in columns)))
    out("")
    out(f"== Twilio calls per customer by route (N={r.customers}, {_layout(r)}) ==")
    out(f"{'route':<82}" + "".join(f"{name:>9}" for name, _ in columns))
    for route in routes:
        cells = "".join(f"{op.routes.get(route, 0) / r.customers:9.2f}" for _, op in columns)
        out(f"{route[:81]:<82}{cells}")
    totals = "".join(f"{op.calls / r.customers:9.2f}" for _, op in columns)
    out(f"{'all':<82}{totals}")


def _split_line(n: int, layout: str, groups: int, op: OpResult, out) -> None:
    cpu = op.cpu
    if layout == "floor":
        out(
            f"{n:<5} {'floor':<9} {_fmt_s(op.wall)}  (16 threads; the script's own CPU: "
            f"{cpu.script:.1f}s, emulator {cpu.emulator:.1f}s)"
            f"{(cpu.script + cpu.emulator) / op.wall if op.wall else 0:37.2f}"
        )
        return
    label = layout if layout == "one" else f"split/{groups}"
    busy = cpu.orchestration + cpu.emulator
    out(
        f"{n:<5} {label:<9} {_fmt_s(op.wall)}  {op.provider.busy:11.1f}s"
        f"  {op.provider.mean_in_flight:7.1f} ({op.provider.peak:>3})"
        f"      {cpu.engine:7.1f}s {cpu.program:7.1f}s {cpu.provider:8.1f}s {cpu.emulator:8.1f}s"
        f"   {busy / op.wall if op.wall else 0:6.2f}"
    )


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
