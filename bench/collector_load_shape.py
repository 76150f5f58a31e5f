"""What the collector load test sends, and to which receivers (`python -m bench.collector_load`)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STATUS_PATH = "/twilio/status"
RECEIVERS = ("group-commit", "naive-inline", "naive-threads", "http-floor")
GROUP_COMMIT = ("group-commit",)
NAIVE = ("naive-inline", "naive-threads")
WORKERS_SUFFIX = "w"  # `group-commit-2w`: the receiver served by 2 worker processes


def receiver_name(kind: str, workers: int) -> str:
    return f"{kind}-{workers}{WORKERS_SUFFIX}"


def split_name(name: str) -> tuple[str, int]:
    """`naive-inline-2w` -> ("naive-inline", 2); a name without a count is one process."""
    kind, _, count = name.rpartition("-")
    if kind and count.endswith(WORKERS_SUFFIX) and count[:-1].isdigit():
        return kind, int(count[:-1])
    return name, 1


TOKENS_ENV = "BENCH_COLLECTOR_TOKENS"
DATABASE_ENV = "BENCH_COLLECTOR_DATABASE"
ACCOUNTS = {f"AC{n:032x}": f"bench-token-{n:020d}" for n in range(1, 5)}
SERVICES = [f"MG{n:032x}" for n in range(1, 4)]
STATUSES = ("queued", "sending", "sent", "delivered")
