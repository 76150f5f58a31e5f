"""Where the program's CPU goes in a policy check's preview (bench/README.md, fourth pass): the
program of an N-customer catalog group under cProfile (bench/profiled_main.py), once for a
group that is all new and once, after `pulumi up` against the emulator, with nothing to change.

    .venv/bin/python -m bench.program_profile --customers 100 [--py-spy] [--top 30]

Each preview is `pulumi preview --suppress-progress` with checkpoints skipped (what
scripts/policy-check runs, without the pack: the pack's process is not the program's cost).
Printed per preview: the CPU of the program's loop thread (cProfile's clock), the program's
and the provider host's CPU from /proc (bench/measure.py), the functions with the most
cumulative and own time. `--py-spy` also samples the program process with py-spy (every
thread, native frames off) and prints its own-time leaders; the SVG is kept with `--keep`.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.policy_check import STACK, Measured, Workspace, create_group

ROOT = Path(__file__).resolve().parents[1]


def profiled(workspace: Workspace) -> None:
    """The program's `__main__.py` runs under cProfile (bench/profiled_main.py)."""
    main = workspace.project / "__main__.py"
    main.rename(workspace.project / "_program_main.py")
    shutil.copy2(Path(__file__).with_name("profiled_main.py"), main)


def _descends_from_us(pid: int) -> bool:
    """Whether `pid` is a descendant of this process (other people's runs share the machine)."""
    while pid > 1:
        if pid == os.getpid():
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat[stat.rfind(")") + 2 :].split()[1])
    return False


def program_pid(deadline: float) -> int | None:
    """Our preview's program (the language host's `pulumi-language-python-exec`), once it runs."""
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            is_program = b"pulumi-language-python-exec" in cmdline and b"host.py" not in cmdline
            if is_program and _descends_from_us(int(entry.name)):
                return int(entry.name)
        time.sleep(0.05)
    return None


def sample_program(raw: Path) -> threading.Thread:
    """py-spy attached to the program as soon as it starts (py-spy's `--subprocesses` under
    the CLI stops the preview early), until it exits."""

    def attach() -> None:
        pid = program_pid(time.monotonic() + 120)
        if pid is not None:
            spy = ROOT / ".venv" / "bin" / "py-spy"
            # --gil: only the thread holding the GIL, i.e. where the program's CPU goes.
            command = ["record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--gil"]
            subprocess.run(
                [str(spy), *command, "-o", str(raw)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )

    thread = threading.Thread(target=attach, daemon=True)
    thread.start()
    return thread


def preview(
    workspace: Workspace, label: str, profile: Path | None, py_spy: Path | None
) -> Measured:
    command = workspace.pulumi("preview", "--suppress-progress")
    sampler = sample_program(py_spy) if py_spy is not None else None
    env = {"PULUMI_SKIP_CHECKPOINTS": "true", "TLZ_PROGRAM_PROFILE": str(profile or "")}
    measured = workspace.run(label, command, **env)
    if sampler is not None:
        sampler.join(timeout=60)
    return measured


def report(measured: Measured, profile: Path | None, top: int) -> list[str]:
    cpu = measured.cpu
    lines = [
        f"== {measured.label}: exit {measured.returncode}, plan {measured.plan}, "
        f"wall {cpu.wall:.1f}s, program CPU {cpu.program:.1f}s, provider CPU "
        f"{cpu.provider:.1f}s, engine CPU {cpu.engine:.1f}s, load {measured.load:.1f}"
    ]
    if measured.returncode != 0:
        lines.append(measured.output[-3000:])
    if profile is None or not profile.exists():
        return lines
    for order in ("cumulative", "tottime"):
        text = io.StringIO()
        stats = pstats.Stats(str(profile), stream=text)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        lines.append(f"-- program loop thread, by {order} (total {stats.total_tt:.2f}s) --")
        body = text.getvalue().splitlines()
        start = next((i for i, line in enumerate(body) if "ncalls" in line), 0)
        lines += [line for line in body[start:] if line.strip()]
    return lines


def py_spy_leaders(raw: Path, top: int) -> list[str]:
    """Own-time and inclusive-time leaders of py-spy's collapsed stacks (all threads)."""
    if not raw.exists():
        return ["(no py-spy samples)"]
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    lines = [f"-- py-spy, program process: {total} samples --"]
    for title, table in (("own", own), ("inclusive", inclusive)):
        lines.append(f"  by {title} time:")
        leaders = sorted(table.items(), key=lambda item: -item[1])[:top]
        lines += [f"  {count / max(total, 1):6.1%}  {frame[:160]}" for frame, count in leaders]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--py-spy", action="store_true")
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--only", choices=("all-new", "no-change"))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tlz-program-profile-", dir=args.keep))
    lines: list[str] = []
    try:
        workspace = Workspace(scratch / "group", args.customers, catalog=True)
        init = ["pulumi", "stack", "init", STACK, "--secrets-provider", "passphrase"]
        workspace.run("init", [*init, "--non-interactive"])
        profiled(workspace)
        runs = []
        if args.only != "no-change":
            runs.append("all new")
        if args.only != "all-new":
            runs.append("no change")
        for label in runs:
            if label == "no change":
                created = create_group(workspace)
                if created.returncode != 0:
                    print(created.output[-3000:])
                    return 1
            slug = label.replace(" ", "-")
            # One profiler at a time: cProfile's hooks would distort py-spy's samples.
            spy = scratch / f"py-spy-{slug}.txt" if args.py_spy else None
            profile = None if spy else scratch / f"program-{slug}.pstats"
            measured = preview(workspace, label, profile, spy)
            lines += report(measured, profile, args.top)
            if spy is not None:
                lines += py_spy_leaders(spy, args.top)
            print("\n".join(lines), flush=True)
            lines = []
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
