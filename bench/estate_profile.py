"""Where the CPU of a run goes: the program's, the provider's and the engine's profiles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.estate_runs import Run, Settings
from bench.estate_shape import customer_keys

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
