"""The emulator's per-account concurrency cap (`--account-concurrency-limit`): one request more
than the cap in flight for an account is answered 429 with code 20429 and Retry-After, at once;
other accounts are not affected. And the providers' transport, bounded for the parent account
as the fleet bounds it (TLZ_PARENT_IN_FLIGHT), stays under the cap or waits its 429s out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from emulator.defaults import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN
from tests.support.emulator_process import EmulatorProcess, running_emulator
from twilio_access.client import EmulatorHttpClient
from twilio_access.credentials import ParentCredentials, TwilioSession
from twilio_access.transport import (
    RetryingHttpClient,
    RetryPolicy,
    parent_in_flight_from_environment,
)

CAP = 2


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[EmulatorProcess]:
    args = ["--account-concurrency-limit", str(CAP), "--fault-retry-after", "1"]
    with running_emulator(tmp_path / "emulator", extra_args=args) as emulator:
        yield emulator


def account_url(emulator: EmulatorProcess, sid: str) -> str:
    return f"{emulator.url}/api/2010-04-01/Accounts/{sid}.json"


def all_at_once(count: int, call) -> list:
    """`count` calls released together by a barrier; their results in thread order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_requests_over_the_cap_get_429_20429_with_retry_after(capped: EmulatorProcess) -> None:
    subaccount = capped.client().api.v2010.accounts.create(friendly_name="other account")
    # Long enough that every request of the burst arrives while the first ones are served.
    capped.set_faults(latency_ms=3000)
    parent = (DEV_ACCOUNT_SID, DEV_AUTH_TOKEN)

    def parent_read() -> requests.Response:
        return requests.get(account_url(capped, DEV_ACCOUNT_SID), auth=parent, timeout=30)

    other: list[requests.Response] = []
    later = threading.Timer(
        1.0,
        lambda: other.append(
            requests.get(
                account_url(capped, subaccount.sid),
                auth=(subaccount.sid, subaccount.auth_token),
                timeout=30,
            )
        ),
    )
    later.start()
    answers = all_at_once(6, parent_read)
    later.join()

    refused = [a for a in answers if a.status_code == 429]
    assert sorted(a.status_code for a in answers) == [200] * CAP + [429] * (6 - CAP)
    assert all(a.json()["code"] == 20429 and a.headers["Retry-After"] == "1" for a in refused)
    # Another account is not held back by the parent's full cap.
    assert [a.status_code for a in other] == [200]
    stats = capped.stats()
    assert stats["over_concurrency"] == {DEV_ACCOUNT_SID: 6 - CAP}
    assert stats["in_flight_peak"][DEV_ACCOUNT_SID] == CAP
    # Requests served, by the account whose data they touch (path AccountSid, else signer):
    # the subaccount's create and the parent's reads, then the subaccount's own read.
    assert stats["by_account"] == {DEV_ACCOUNT_SID: 1 + CAP, subaccount.sid: 1}


def bounded_client(emulator: EmulatorProcess, parent_bound: int) -> RetryingHttpClient:
    policy = RetryPolicy(account_concurrency={DEV_ACCOUNT_SID: parent_bound})
    return RetryingHttpClient(EmulatorHttpClient(emulator.url), policy)


def read_parent(client: RetryingHttpClient, emulator: EmulatorProcess) -> int:
    url = f"https://api.twilio.com/2010-04-01/Accounts/{DEV_ACCOUNT_SID}.json"
    return client.request("GET", url, auth=(DEV_ACCOUNT_SID, DEV_AUTH_TOKEN)).status_code


def test_a_parent_bound_within_the_cap_is_never_refused(capped: EmulatorProcess) -> None:
    capped.set_faults(latency_ms=200)
    client = bounded_client(capped, CAP)
    assert all_at_once(8, lambda: read_parent(client, capped)) == [200] * 8
    stats = capped.stats()
    assert stats["over_concurrency"] == {}
    assert stats["in_flight_peak"][DEV_ACCOUNT_SID] == CAP


def test_a_bound_over_the_cap_waits_out_its_429s(capped: EmulatorProcess) -> None:
    capped.set_faults(latency_ms=200)
    client = bounded_client(capped, 4 * CAP)
    assert all_at_once(8, lambda: read_parent(client, capped)) == [200] * 8
    stats = capped.stats()
    assert stats["over_concurrency"][DEV_ACCOUNT_SID] >= 1  # refused, then retried
    assert stats["in_flight_peak"][DEV_ACCOUNT_SID] == CAP


def test_the_fleet_share_reaches_the_providers_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLZ_PARENT_IN_FLIGHT", "5")
    assert parent_in_flight_from_environment() == 5
    session = TwilioSession(ParentCredentials(DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, "http://x"))
    policy = session._http.policy
    assert policy.concurrency_for(DEV_ACCOUNT_SID) == 5
    assert policy.concurrency_for("AC" + "1" * 32) == RetryPolicy().per_account_concurrency
    for wrong in ("0", "many", "-3"):
        monkeypatch.setenv("TLZ_PARENT_IN_FLIGHT", wrong)
        with pytest.raises(ValueError, match="TLZ_PARENT_IN_FLIGHT"):
            parent_in_flight_from_environment()
