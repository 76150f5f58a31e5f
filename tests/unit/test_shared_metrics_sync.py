"""collector.shared_metrics.SharedMetrics.sync: a snapshot older than the last one synced is
dropped (the timer's and a scrape's syncs run on threads of their own), so no count is added
twice. Run in a child interpreter: the multiprocess metrics need PROMETHEUS_MULTIPROC_DIR set
before prometheus_client is imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

OUT_OF_ORDER = textwrap.dedent(
    """
    import sys
    from collections import Counter
    from pathlib import Path

    from collector.metrics import Snapshot, StoreLatency
    from collector.names import NameMap
    from collector.shared_metrics import SharedMetrics, render_merged

    def snapshot(answered):
        return Snapshot(Counter({200: answered}), Counter(), {}, StoreLatency(), 1, {})

    shared = SharedMetrics(Path(sys.argv[1]), lambda: NameMap({}))
    older, newer = snapshot(1), snapshot(3)
    shared.sync(newer)
    shared.sync(older)  # its thread got the lock last
    shared.sync(snapshot(3))  # nothing answered since
    for line in render_merged(shared.directory).decode().splitlines():
        if line.startswith("tlz_collector_callbacks_received_total"):
            print(line.split()[-1])
    """
)


def test_an_older_snapshot_synced_after_a_newer_one_adds_nothing(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", OUT_OF_ORDER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["3.0"]
