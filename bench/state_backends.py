"""State backends side by side (issue #19): `pulumi up` of the estate benchmark's N-customer
ISV estate (bench/estate.py: 12 Twilio objects per customer) with its state in the file
backend and in PostgreSQL, with checkpoints written per step and skipped, in one run.

    .venv/bin/python -m bench.state_backends --customers 100 --latency-ms 100

Each measurement gets its own emulator, project and backend (a fresh file backend directory,
or a fresh database on the tests' PostgreSQL server, scripts/start-postgres), and the same
recommended settings as `make bench` apart from checkpoints (`--parallel 64`, 64 provider
workers). Pulumi's DIY backends write the whole checkpoint at every step unless
PULUMI_SKIP_CHECKPOINTS is set; the PostgreSQL backend also copies the previous checkpoint to
its `.bak` row first, each a JSON row holding the base64 of the state. For PostgreSQL the
report also counts the rows written (inserts + updates of Pulumi's table) and their bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from sqlalchemy.engine import make_url

from bench.estate import clean_environment, scratch
from bench.estate_runs import BenchTimeout, Run, Settings
from bench.estate_shape import PROJECT, customer_keys

ROOT = Path(__file__).resolve().parents[1]
STACK = "isv"
TABLE = "pulumi_state"


@dataclass(frozen=True)
class Measurement:
    backend: str
    checkpoints: str
    up_s: float
    twilio_calls: int
    checkpoint_bytes: int
    rows_written: int | None = None
    wal_bytes: int | None = None


def start_server() -> str:
    result = subprocess.run(
        [str(ROOT / "scripts" / "start-postgres")], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise SystemExit(f"state_backends: scripts/start-postgres failed:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def _connect(server_url: str, database: str = "postgres") -> psycopg.Connection:
    parsed = make_url(server_url)
    return psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=database, autocommit=True
    )


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    name = f"bench_state_{uuid.uuid4().hex[:10]}"
    with _connect(server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with _connect(server_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wal_position(server_url: str) -> int:
    with _connect(server_url) as connection:
        row = connection.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    return int(row[0])


def table_writes(server_url: str, database: str) -> tuple[int, int]:
    """(rows inserted + updated in Pulumi's table, the stack checkpoint's stored bytes)."""
    with _connect(server_url, database) as connection:
        # Statistics reach pg_stat after the backend's next report; ask for a fresh snapshot.
        connection.execute("SELECT pg_stat_force_next_flush()")
        written = connection.execute(
            "SELECT coalesce(n_tup_ins + n_tup_upd, 0) FROM pg_stat_user_tables WHERE relname = %s",
            (TABLE,),
        ).fetchone()
        size = connection.execute(
            f"SELECT octet_length(data::text) FROM {TABLE} WHERE key = %s",
            (f"{database}/.pulumi/stacks/{PROJECT}/{STACK}.json",),
        ).fetchone()
    return int(written[0] if written else 0), int(size[0] if size else 0)


class BackendRun(Run):
    """bench.estate's run with the state in a backend URL of our choosing."""

    def __init__(self, root: Path, backend_url: str | None, **kwargs) -> None:
        super().__init__(root, **kwargs)
        self.backend_url = backend_url

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.backend_url is not None:
            env["PULUMI_BACKEND_URL"] = self.backend_url
        return env


def measure_up(
    root: Path,
    *,
    customers: int,
    latency_ms: float,
    skip_checkpoints: bool,
    server_url: str | None,
    database: str | None,
    op_timeout: float,
) -> Measurement:
    settings = Settings(skip_checkpoints=skip_checkpoints, parallel=64, provider_workers=64)
    backend_url = None
    if server_url is not None and database is not None:
        parsed = make_url(server_url)
        backend_url = (
            f"postgres://{parsed.username}@{parsed.host}:{parsed.port}/{database}?sslmode=disable"
        )
    with BackendRun(
        root,
        backend_url,
        latency_ms=latency_ms,
        settings=settings,
        op_timeout=op_timeout,
    ) as run:
        run.prepare_project({STACK: customer_keys(customers)})
        stack = run.stack(STACK)
        wal_before = wal_position(server_url) if server_url else 0
        result = run.measure("up", lambda: stack.up(parallel=settings.parallel))
        active, numbers = run.active_estate()
        if (active, numbers) != (customers, 4 * customers):
            raise SystemExit(f"state_backends: after up {active} subaccounts, {numbers} numbers")
        checkpoints = "skipped" if skip_checkpoints else "per step"
        if backend_url is None:
            path = run.state_dir / ".pulumi" / "stacks" / PROJECT / f"{STACK}.json"
            json.loads(path.read_text())
            return Measurement("file", checkpoints, result.wall, result.calls, path.stat().st_size)
        assert server_url is not None and database is not None
        rows, size = table_writes(server_url, database)
        wal = wal_position(server_url) - wal_before
        return Measurement("postgres", checkpoints, result.wall, result.calls, size, rows, wal)


def _mib(count: int | None) -> str:
    return "-" if count is None else f"{count / 2**20:.1f} MiB"


def print_report(results: list[Measurement], customers: int, latency_ms: float) -> None:
    print(
        f"\n`pulumi up` of {customers} customers ({12 * customers} Twilio objects), "
        f"{latency_ms:g} ms per Twilio request, --parallel 64, 64 provider workers"
    )
    header = f"{'backend':<10} {'checkpoints':<12} {'up':>8} {'vs file':>8} {'Twilio calls':>13}"
    header += f" {'checkpoint':>11} {'rows written':>13} {'WAL':>10}"
    print(header)
    print("-" * len(header))
    file_up = {m.checkpoints: m.up_s for m in results if m.backend == "file"}
    for m in results:
        ratio = m.up_s / file_up[m.checkpoints] if m.checkpoints in file_up else float("nan")
        rows = "-" if m.rows_written is None else str(m.rows_written)
        size, wal = _mib(m.checkpoint_bytes), _mib(m.wal_bytes)
        up = "timeout" if math.isinf(m.up_s) else f"{m.up_s:.1f}s"
        print(
            f"{m.backend:<10} {m.checkpoints:<12} {up:>8} {ratio:>8.2f} "
            f"{m.twilio_calls:>13} {size:>11} {rows:>13} {wal:>10}"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.state_backends",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--op-timeout", type=float, default=1800.0)
    parser.add_argument(
        "--checkpoints",
        default="per-step,skip",
        help="comma-separated: per-step, skip (default both)",
    )
    parser.add_argument("--keep", type=Path, help="keep every project, backend and log here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clean_environment()
    server_url = start_server()
    results: list[Measurement] = []
    started = time.monotonic()
    with scratch(args.keep) as root:
        # Per-step first (the slow pair), each pair file then PostgreSQL back to back.
        modes = [mode.strip() for mode in args.checkpoints.split(",") if mode.strip()]
        for skip in [mode == "skip" for mode in modes]:
            for backend in ("file", "postgres"):
                label = f"{backend}-{'skip' if skip else 'per-step'}"
                print(f"state_backends: up, {label} ...", file=sys.stderr, flush=True)
                common = {
                    "customers": args.customers,
                    "latency_ms": args.latency_ms,
                    "skip_checkpoints": skip,
                    "op_timeout": args.op_timeout,
                }
                try:
                    if backend == "file":
                        measurement = measure_up(
                            root / label, server_url=None, database=None, **common
                        )
                    else:
                        with fresh_database(server_url) as database:
                            measurement = measure_up(
                                root / label, server_url=server_url, database=database, **common
                            )
                except BenchTimeout:
                    # Reported as such (the table says "timeout"), not dropped from it.
                    checkpoints = "skipped" if skip else "per step"
                    measurement = Measurement(backend, checkpoints, math.inf, 0, 0)
                print(f"state_backends:   {measurement.up_s:.1f}s", file=sys.stderr, flush=True)
                results.append(measurement)
    print_report(results, args.customers, args.latency_ms)
    print(f"\n(whole run {time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
