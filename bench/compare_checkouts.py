"""The happy-path cost of a change: `bench.estate` (N customers, one stack, `up` against the
floor) in two checkouts, alternated round by round in one run so both see the same machine.

    .venv/bin/python -m bench.compare_checkouts --baseline ../main-checkout --rounds 3

Each checkout runs its own code with its own .venv and engine (`make setup` in each). Prints
every round's up/floor ratio and, at the end, candidate/baseline of the median ratios.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROW = re.compile(r"^(\d+)\s+one\s+([\d.]+)s\s+([\d.]+)s\s+([\d.]+)\s", re.MULTILINE)


def run_once(checkout: Path, customers: int, latency_ms: float) -> tuple[float, float, float]:
    """(up seconds, floor seconds, up/floor) of one `bench.estate` run in `checkout`."""
    command = [
        str(checkout / ".venv" / "bin" / "python"),
        "-m",
        "bench.estate",
        "--customers",
        str(customers),
        "--latency-ms",
        str(latency_ms),
        "--layouts",
        "one",
        "--operations",
        "up",
        "--levers-n",
        "0",
        "--no-zero-latency",
    ]
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True, timeout=1800)
    match = ROW.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"bench.estate failed in {checkout}:\n{done.stdout}\n{done.stderr}")
    return float(match.group(2)), float(match.group(3)), float(match.group(4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare_checkouts", description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True, help="the checkout to compare to")
    parser.add_argument("--candidate", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    ratios: dict[str, list[float]] = {"baseline": [], "candidate": []}
    for round_number in range(1, args.rounds + 1):
        # Alternate which goes first, so neither always runs on a warmer (or busier) machine.
        order = ["baseline", "candidate"] if round_number % 2 else ["candidate", "baseline"]
        for name in order:
            checkout = getattr(args, name)
            up, floor, ratio = run_once(checkout, args.customers, args.latency_ms)
            ratios[name].append(ratio)
            print(
                f"round {round_number} {name:9} up {up:6.1f}s floor {floor:5.1f}s "
                f"up/floor {ratio:.2f}",
                flush=True,
            )
    baseline = statistics.median(ratios["baseline"])
    candidate = statistics.median(ratios["candidate"])
    print(
        f"median up/floor: baseline {baseline:.2f}, candidate {candidate:.2f}; "
        f"candidate/baseline {candidate / baseline:.3f} (N={args.customers}, one stack, "
        f"{args.latency_ms:.0f} ms, {args.rounds} rounds)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
