"""What the collector load test sends, and to which receivers (`python -m bench.collector_load`)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STATUS_PATH = "/twilio/status"
RECEIVERS = ("group-commit", "group-commit-2w", "naive-inline", "naive-threads", "http-floor")
GROUP_COMMIT = ("group-commit", "group-commit-2w")
NAIVE = ("naive-inline", "naive-threads")
TOKENS_ENV = "BENCH_COLLECTOR_TOKENS"
DATABASE_ENV = "BENCH_COLLECTOR_DATABASE"
ACCOUNTS = {f"AC{n:032x}": f"bench-token-{n:020d}" for n in range(1, 5)}
SERVICES = [f"MG{n:032x}" for n in range(1, 4)]
STATUSES = ("queued", "sending", "sent", "delivered")
