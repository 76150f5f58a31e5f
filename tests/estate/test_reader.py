"""The reader's guarantees: GET only, at most the configured requests in flight per account
(seen by the emulator itself), 429s waited out, every page read."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.http import HttpClient
from twilio.http.response import Response

from estate.reader import ReadOnlyHttpClient, WriteRefusedError
from tests.estate.support import findings_by_rule, run_audit, seeded_emulator, writes
from tests.estate.test_audit_cli import EXPECTED
from tests.support.emulator_process import EmulatorProcess


class _HeldRequests(HttpClient):
    """Holds every request until released; counts how many are inside at once."""

    def __init__(self) -> None:
        super().__init__(logger=None, is_async=False, timeout=None)  # type: ignore[arg-type]
        self.inside = 0
        self.most_inside = 0
        self.lock = threading.Lock()
        self.release = threading.Event()

    def request(self, method, url, params=None, data=None, headers=None, auth=None, *_rest):
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.release.wait(10)
        with self.lock:
            self.inside -= 1
        return Response(200, "{}")


def _poll(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def test_writes_never_leave_the_reader() -> None:
    inner = _HeldRequests()
    client = ReadOnlyHttpClient(inner, per_account=4)
    for method in ("POST", "DELETE", "PUT", "PATCH"):
        with pytest.raises(WriteRefusedError):
            client.request(method, "https://api.twilio.com/2010-04-01/Accounts.json")
    assert inner.most_inside == 0


def test_at_most_the_limit_in_flight_per_account() -> None:
    inner = _HeldRequests()
    client = ReadOnlyHttpClient(inner, per_account=2)
    started = threading.Semaphore(0)

    def read(account: str) -> None:
        started.release()
        client.request("GET", "https://api.twilio.com/x", auth=(account, "secret"))

    threads = [threading.Thread(target=read, args=("AC1",)) for _ in range(6)]
    threads.append(threading.Thread(target=read, args=("AC2",)))
    for thread in threads:
        thread.start()
    for _ in threads:
        assert started.acquire(timeout=5)
    # Two of AC1's and AC2's one get in; the other four wait for a slot.
    assert _poll(lambda: inner.inside == 3)
    assert not _poll(lambda: inner.inside > 3, timeout=0.3)
    inner.release.set()
    for thread in threads:
        thread.join(10)
    assert inner.most_inside == 3
    assert client.requests == 7


@pytest.fixture
def slow_legacy(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with seeded_emulator(tmp_path / "legacy") as emulator:
        emulator.set_faults(latency_ms=15)
        yield emulator


def test_the_emulator_sees_the_configured_concurrency(slow_legacy: EmulatorProcess) -> None:
    run = run_audit("--format", "json", "--concurrency", "1", emulator_url=slow_legacy.url)
    assert run.returncode == 1, run.stderr
    assert findings_by_rule(run.json()) == EXPECTED
    stats = slow_legacy.stats()
    assert max(stats["in_flight_peak"].values()) == 1
    assert writes(stats) == 0


def test_429s_are_waited_out_and_change_nothing(slow_legacy: EmulatorProcess) -> None:
    slow_legacy.set_faults(
        retry_after_seconds=1, script=["429", "429", "429"], path_pattern=r"/Services$"
    )
    run = run_audit("--format", "json", emulator_url=slow_legacy.url)
    assert run.returncode == 1, run.stderr
    assert findings_by_rule(run.json()) == EXPECTED
    stats = slow_legacy.stats()
    assert stats["faults"] == {"429": 3}
    assert stats["statuses"]["429"] == 3


def test_every_page_of_accounts_is_read(tmp_path: Path) -> None:
    # More accounts than one page holds (1,000, the parent included): each one is audited.
    with seeded_emulator(
        tmp_path / "scale", "scale", "--subaccounts", "1005", "--numbers", "1005"
    ) as emulator:
        run = run_audit("--format", "json", "--traffic-sample", "0", emulator_url=emulator.url)
        stats = emulator.stats()
    assert run.returncode == 0, run.stderr
    document = run.json()
    assert document["read"]["subaccounts"] == 1005
    assert document["read"]["phone_numbers"] == 1005
    # Every seventh account's key is standard; development and staging may have one.
    standard_in_production = sum(1 for index in range(2, 1005) if index % 7 == 6)
    assert document["summary"]["by_rule"] == {"restricted-api-keys": standard_in_production}
    assert stats["routes"]["GET /api/2010-04-01/Accounts.json"] == 2
    assert writes(stats) == 0


def test_every_page_of_numbers_is_read(tmp_path: Path) -> None:
    # One account with more numbers than a page holds; every tenth is left out of the service.
    # Pages: the parent's one, then the subaccount's three (and two default services' pools).
    with seeded_emulator(
        tmp_path / "numbers", "scale", "--subaccounts", "1", "--numbers", "2405"
    ) as emulator:
        run = run_audit("--format", "json", emulator_url=emulator.url)
        stats = emulator.stats()
    document = run.json()
    assert document["read"]["phone_numbers"] == 2405
    assert document["summary"]["by_rule"]["number-in-no-service"] == 240
    assert (
        stats["routes"]["GET /api/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"]
        == 1 + 3
    )
    assert stats["routes"]["GET /messaging/v1/Services/{ServiceSid}/PhoneNumbers"] == 2 + 3
