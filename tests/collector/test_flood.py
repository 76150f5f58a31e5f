"""Issue 14's flood: 100,000 forged callback attempts with random account SIDs from 127.0.0.2
against the real collector (parent's emulator credentials, default refusal budget) while signed
callbacks of the estate keep coming from 127.0.0.1. No Twilio call for a stranger, bounded
memory, every legitimate callback stored, and the forger's requests beyond its refusal budget
never reach the app (they are cut off unread). The latency comparison is printed
(`python -m bench.collector_flood` reports it too): on a shared machine it is the load's."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.collector_flood import run_flood
from collector.peers import DEFAULT_REFUSAL_BURST, DEFAULT_REFUSALS_PER_SECOND

pytestmark = pytest.mark.reliability

# As many connections as the collector holds cut off at most (collector.peers.DEFAULT_MAX_HELD):
# each makes an attempt per hold (0.05 s) and the flood takes about half a minute; with the
# bench's 32 connections it would take minutes (the hold's very purpose).
FLOOD_CONCURRENCY = 256
ROUNDS = 3  # flood phases, each after a quiet baseline in which the budget refills


def test_a_flood_of_forged_callbacks_costs_no_twilio_call_and_loses_nothing(tmp_path: Path):
    result = run_flood(
        tmp_path,
        forged=100_000,
        legit_rate=100.0,
        baseline_seconds=3.0,
        flood_concurrency=FLOOD_CONCURRENCY,
        rounds=ROUNDS,
    )
    print(result.render())
    assert result.forged.attempts == 100_000
    assert set(result.forged.answers) == {403}
    # Beyond its budget the forger reaches nothing but accept(): the connections it had open
    # before its first refusal, a whole burst per flood phase (the budget refills in the quiet
    # baseline before it), and what it earns back while the flood lasts.
    earned = DEFAULT_REFUSALS_PER_SECOND * result.forged.seconds
    budget = FLOOD_CONCURRENCY + DEFAULT_REFUSAL_BURST * ROUNDS + earned
    assert result.reached_http <= budget + 1, result.render()
    assert result.collector_cut_off_during_flood == result.forged.cut_off
    assert result.forged.cut_off >= 100_000 - result.reached_http
    # Not one read of a random SID (it would have been a 404), no token read at all; the only
    # Twilio requests are the estate's own list refreshes, once a minute, flood or not.
    assert result.twilio_404s_during_flood == 0
    assert result.collector_token_reads_during_flood == 0
    assert result.twilio_requests_during_flood == result.collector_account_lists_during_flood
    assert result.collector_account_lists_during_flood <= result.forged.seconds / 60 + 1
    assert result.rss_growth_mib <= 10, result.render()
    assert result.legit_stored == result.legit_sent
    assert set(result.baseline.statuses) == {200} and set(result.flooded.statuses) == {200}
    assert len(result.flooded.latencies_ms) > 0
