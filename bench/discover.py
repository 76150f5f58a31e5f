"""Discover at scale, measured in one run: `python -m bench.discover`.

Seeds a large ISV account (`python -m emulator seed scale`, default 3,000 subaccounts and
30,000 numbers), starts an emulator with `--latency-ms` per request, then runs
`python -m estate discover` as a user does, side by side with `python -m estate audit` of the
same account (the read both share), and `python -m architecture validate` on every file
written. Prints wall times, Twilio requests, writes (must be 0), the files (a large estate is
split into stacks whose config fits), and the load average beside each figure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from architecture.loading import (
    CONFIG_ENVIRONMENT_LIMIT,
    config_environment_size,
    read_stack_file,
)
from bench.audit import CREDENTIALS, seed
from devkit.emulator_process import REPO_ROOT, EmulatorProcess


def timed(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    return time.monotonic() - started, done


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.discover", description=__doc__)
    parser.add_argument("--subaccounts", type=int, default=3000)
    parser.add_argument("--numbers", type=int, default=30000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-discover-") as scratch:
        workdir = Path(scratch)
        db = workdir / "scale.db"
        seed(db, "--subaccounts", str(args.subaccounts), "--numbers", str(args.numbers))
        emulator = EmulatorProcess(
            workdir / "emulator", db_path=db, extra_args=["--latency-ms", str(args.latency_ms)]
        )
        emulator.start(timeout=60)
        env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
        env["TWILIO_EMULATOR_URL"] = emulator.url
        python = sys.executable
        try:
            before = emulator.stats()
            discover_s, done = timed(
                [python, "-m", "estate", "discover", "--stack", "isv", "--dir", scratch], env
            )
            if done.returncode != 0:
                raise SystemExit(f"discover failed: {done.stderr}")
            discover_load = load()
            after = emulator.stats()
            audit_s, audited = timed(
                [python, "-m", "estate", "audit", "--format", "json", "--traffic-sample", "0",
                 "--output", str(workdir / "audit.json")],
                env,
            )  # fmt: skip
            audit_load = load()
        finally:
            emulator.stop()
        files = sorted(workdir.glob("Pulumi.isv*.yaml"))
        validate_s = 0.0
        fill = [
            config_environment_size(read_stack_file(path)["config"]) / CONFIG_ENVIRONMENT_LIMIT
            for path in files
        ]
        for path in files:
            seconds, checked = timed([python, "-m", "architecture", "validate", str(path)], env)
            validate_s += seconds
            if checked.returncode != 0:
                raise SystemExit(f"{path.name} does not validate: {checked.stderr}")
        requests = after["total"] - before["total"]
        tenants = sum(
            len(read_stack_file(p)["config"]["twilio-landing-zone:architecture"]["tenants"])
            for p in files
        )
        print(done.stderr.strip().splitlines()[-1])
        print(
            f"discover: {args.subaccounts} subaccounts, {args.numbers} numbers -> {tenants} "
            f"tenants in {len(files)} stack files in {discover_s:.1f} s ({discover_load}); "
            f"{requests} Twilio requests, writes {after['writes'] - before['writes']}"
        )
        print(
            f"audit of the same account (no traffic sample): {audit_s:.1f} s ({audit_load}), "
            f"exit {audited.returncode}; discover/audit {discover_s / audit_s:.2f}"
        )
        print(f"validate: all {len(files)} files valid, {validate_s:.1f} s in all ({load()})")
        print(
            f"config per stack: {min(fill):.0%}-{max(fill):.0%} of the {CONFIG_ENVIRONMENT_LIMIT:,}"
            " bytes Pulumi can hand the program"
        )


if __name__ == "__main__":
    main()
