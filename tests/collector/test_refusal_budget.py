"""The refusal budget per client (collector.peers) and the gate's trusted proxies, without a
server: a fake clock drives the refill."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from collector.gate import _TrustedProxies
from collector.peers import BudgetSettings, RefusalBudget, client_key


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _budget(per_second: float = 2.0, burst: int = 3, max_clients: int = 100):
    clock = FakeClock()
    settings = BudgetSettings(per_second=per_second, burst=burst, max_clients=max_clients)
    return RefusalBudget(settings, clock=clock), clock


def test_a_client_never_refused_has_no_bucket_and_is_never_cut_off():
    budget, _ = _budget()
    budget.spend("192.0.2.1")  # someone else
    assert budget.admit("198.51.100.7") is None
    assert not budget.exhausted("198.51.100.7")
    assert len(budget) == 1  # looking a client up creates nothing


def test_one_bad_request_does_not_lock_a_client_out():
    budget, _ = _budget(burst=3)
    budget.spend("192.0.2.1")
    assert not budget.exhausted("192.0.2.1")
    assert budget.admit("192.0.2.1") is True


def test_the_budget_runs_out_after_burst_refusals_and_refills_at_the_rate():
    budget, clock = _budget(per_second=2.0, burst=3)
    for _ in range(3):
        budget.spend("192.0.2.1")
    assert budget.exhausted("192.0.2.1")
    assert budget.admit("192.0.2.1") is False
    clock.now += 0.4  # 0.8 of a refusal earned back: still out
    assert budget.admit("192.0.2.1") is False
    clock.now += 0.1  # one refusal earned back: one connection through
    assert budget.admit("192.0.2.1") is True
    assert budget.admit("192.0.2.1") is False
    clock.now += 60  # long quiet: back to the whole burst, never more
    budget.release("192.0.2.1")
    assert [budget.admit("192.0.2.1") for _ in range(4)] == [True, True, True, False]


def test_a_refused_client_has_at_most_as_many_connections_open_as_refusals_left():
    budget, _ = _budget(burst=3)
    budget.spend("192.0.2.1")  # 2 left
    assert [budget.admit("192.0.2.1") for _ in range(3)] == [True, True, False]
    budget.release("192.0.2.1")
    assert budget.admit("192.0.2.1") is True


def test_refusals_below_zero_do_not_prolong_the_lockout_beyond_one_refill():
    budget, clock = _budget(per_second=2.0, burst=3)
    for _ in range(1000):
        budget.spend("192.0.2.1")
    clock.now += 0.5
    assert budget.admit("192.0.2.1") is True


def test_the_clients_held_are_bounded_least_recently_refused_first_out():
    budget, _ = _budget(max_clients=100)
    for index in range(1000):
        budget.spend(f"10.0.{index // 256}.{index % 256}")
    assert len(budget) == 100
    assert budget.admit("10.0.0.0") is None  # the first ones were forgotten
    assert budget.admit("10.0.3.231") is True  # the last one (999) is held


def test_random_source_addresses_do_not_grow_memory_past_the_bound():
    budget, _ = _budget(max_clients=1000)
    draw = random.Random(5)

    def refuse_strangers(count: int) -> None:
        for _ in range(count):
            budget.spend(f"10.{draw.randrange(256)}.{draw.randrange(256)}.{draw.randrange(256)}")

    tracemalloc.start()
    try:
        refuse_strangers(50_000)  # the bound is reached and the LRU's table has its size
        held = tracemalloc.get_traced_memory()[0]
        refuse_strangers(100_000)
        grown = tracemalloc.get_traced_memory()[0] - held
    finally:
        tracemalloc.stop()
    assert len(budget) == 1000
    assert held < 1024 * 1024, held  # about 300 bytes a client
    assert abs(grown) < 16 * 1024, grown


def test_ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"
    budget, _ = _budget(burst=1)
    budget.spend("2001:db8:1:2::1")
    assert budget.admit("2001:db8:1:2:ffff::5") is False


def test_no_budget_when_the_rate_is_zero():
    budget, _ = _budget(per_second=0)
    for _ in range(100):
        budget.spend("192.0.2.1")
    assert len(budget) == 0
    assert budget.admit("192.0.2.1") is None


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (BudgetSettings(per_second=-1), "--refusals-per-second must be 0 (no budget) or more"),
        (BudgetSettings(burst=0), "--refusal-burst must be at least 1"),
        (BudgetSettings(per_second=0, burst=0), None),
        (BudgetSettings(), None),
    ],
)
def test_bad_settings_are_named_in_one_line(settings: BudgetSettings, problem: str | None):
    assert settings.problem() == problem


def test_settings_travel_to_worker_processes_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
):
    settings = BudgetSettings(per_second=2.5, burst=7)
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)
    assert BudgetSettings.from_environment() == settings


def test_trusted_proxies_follow_uvicorns_forwarded_allow_ips():
    proxies = _TrustedProxies("10.0.0.0/8, 192.0.2.1", proxy_headers=True)
    assert "10.1.2.3" in proxies and "192.0.2.1" in proxies
    assert "192.0.2.2" not in proxies and "not-an-address" not in proxies
    assert "198.51.100.1" in _TrustedProxies("*", proxy_headers=True)
    # Without proxy headers nothing is trusted, whatever uvicorn's default list says.
    assert "127.0.0.1" not in _TrustedProxies("127.0.0.1,::1", proxy_headers=False)
    assert "::1" in _TrustedProxies(["::1"], proxy_headers=True)
