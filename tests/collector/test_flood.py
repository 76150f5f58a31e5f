"""Issue 14's flood: 100,000 forged callbacks with random account SIDs against the real
collector (parent's emulator credentials) while signed callbacks of the estate keep coming.
No Twilio call for a stranger, bounded memory, every legitimate callback stored; the latency
comparison is printed (`python -m bench.collector_flood` reports it too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.collector_flood import run_flood

pytestmark = pytest.mark.reliability


def test_a_flood_of_forged_callbacks_costs_no_twilio_call_and_loses_nothing(tmp_path: Path):
    result = run_flood(tmp_path, forged=100_000, legit_rate=100.0, baseline_seconds=3.0)
    print(result.render())
    assert result.forged_statuses == {403: 100_000}
    # Not one read of a random SID (it would have been a 404), no token read at all; the only
    # Twilio requests are the estate's own list refreshes, once a minute, flood or not.
    assert result.twilio_404s_during_flood == 0
    assert result.collector_token_reads_during_flood == 0
    assert result.twilio_requests_during_flood == result.collector_account_lists_during_flood
    assert result.collector_account_lists_during_flood <= result.flood_seconds / 60 + 1
    assert result.rss_growth_mib <= 10, result.render()
    assert result.legit_stored == result.legit_sent
    assert set(result.baseline.statuses) == {200} and set(result.flooded.statuses) == {200}
    assert len(result.flooded.latencies_ms) > 0
