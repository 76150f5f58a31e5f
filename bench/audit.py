"""The audit at scale, measured in one run: `python -m bench.audit`.

1. Scale: `python -m emulator seed scale` (default 3,000 subaccounts, 30,000 numbers, 20,000
   messages sent from the parent), an emulator with `--latency-ms` per request, then
   `python -m estate audit --format json` as a user runs it. Prints its wall time, Twilio
   requests and requests per second, the most requests the emulator saw in flight for any one
   account (must not exceed --concurrency), writes (must be 0), 429s served and waited out, and
   the audit process's peak RSS.
2. Memory: the same small estate with no parent messages and with `--messages` of them, every
   one streamed (`--parent-scan` all): the ratio of the two peak RSS shows messages are not
   held.

Numbers from one run on this machine are in README ("Bring an existing account").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devkit.emulator_process import REPO_ROOT, EmulatorProcess

CREDENTIALS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")


@dataclass(frozen=True)
class AuditMeasure:
    seconds: float
    peak_rss_mb: float
    returncode: int
    document: dict
    stats: dict

    @property
    def requests(self) -> int:
        return int(self.document["read"]["requests"])

    @property
    def most_in_flight(self) -> int:
        return max(self.stats["in_flight_peak"].values())


def seed(db: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "emulator", "seed", "scale", "--db", str(db), *args],
        cwd=REPO_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def audit(emulator: EmulatorProcess, output: Path, *args: str) -> AuditMeasure:
    """One `python -m estate audit` process: wall time and its own peak RSS (wait4)."""
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    env["TWILIO_EMULATOR_URL"] = emulator.url
    command = [sys.executable, "-m", "estate", "audit", "--format", "json"]
    started = time.monotonic()
    process = subprocess.Popen(
        [*command, "--output", str(output), *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    returncode = os.waitstatus_to_exitcode(status)
    process.returncode = returncode
    if returncode not in (0, 1):
        raise SystemExit(f"the audit failed ({returncode}): {process.stderr.read().decode()}")
    document = json.loads(output.read_text())
    return AuditMeasure(seconds, usage.ru_maxrss / 1024, returncode, document, emulator.stats())


def scale(args: argparse.Namespace, workdir: Path) -> None:
    db = workdir / "scale.db"
    started = time.monotonic()
    seed(
        db,
        "--subaccounts",
        str(args.subaccounts),
        "--numbers",
        str(args.numbers),
        "--parent-messages",
        str(args.parent_messages),
    )
    print(
        f"seeded {args.subaccounts} subaccounts, {args.numbers} numbers, "
        f"{args.parent_messages} parent messages in {time.monotonic() - started:.1f} s"
    )
    extra = ["--latency-ms", str(args.latency_ms), "--fault-429-rate", str(args.rate_429)]
    emulator = EmulatorProcess(workdir / "scale", db_path=db, extra_args=extra)
    emulator.start(timeout=60)
    try:
        run = audit(emulator, workdir / "scale.json", "--concurrency", str(args.concurrency))
    finally:
        emulator.stop()
    stats = run.stats
    accounts = run.document["read"]["subaccounts"] + 1
    print(
        f"audit: {accounts} accounts, {run.document['read']['phone_numbers']} numbers, "
        f"{len(run.document['findings'])} findings in {run.seconds:.1f} s "
        f"({accounts / run.seconds:.0f} accounts/s); {run.requests} Twilio requests "
        f"({run.requests / run.seconds:.0f}/s, {run.requests / accounts:.1f} per account)"
    )
    print(
        f"  at most {run.most_in_flight} requests in flight for any one account "
        f"(--concurrency {args.concurrency}); writes {stats['writes']}; "
        f"429s served and waited out: {stats['faults'].get('429', 0)}; "
        f"peak RSS {run.peak_rss_mb:.0f} MB; exit {run.returncode}"
    )


def memory(args: argparse.Namespace, workdir: Path) -> None:
    peaks = []
    for messages in (0, args.messages):
        db = workdir / f"memory-{messages}.db"
        seed(db, "--subaccounts", "20", "--numbers", "200", "--parent-messages", str(messages))
        emulator = EmulatorProcess(workdir / f"memory-{messages}", db_path=db)
        emulator.start(timeout=60)
        try:
            run = audit(
                emulator, workdir / f"memory-{messages}.json", "--parent-scan", str(messages)
            )
        finally:
            emulator.stop()
        scanned = sum(run.document["parent_traffic"]["by_sender"].values())
        print(
            f"memory: {messages:>6} parent messages, {scanned} streamed, peak RSS "
            f"{run.peak_rss_mb:.1f} MB, {run.seconds:.1f} s"
        )
        peaks.append(run.peak_rss_mb)
    print(f"  peak RSS ratio, {args.messages} messages streamed vs none: {peaks[1] / peaks[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    parser.add_argument("--subaccounts", type=int, default=3000)
    parser.add_argument("--numbers", type=int, default=30000)
    parser.add_argument("--parent-messages", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-429", type=float, default=0.0, help="share of requests 429'd")
    parser.add_argument("--messages", type=int, default=50000, help="memory: parent messages")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as scratch:
        workdir = Path(scratch)
        if not args.skip_scale:
            scale(args, workdir)
        if not args.skip_memory:
            memory(args, workdir)


if __name__ == "__main__":
    main()
