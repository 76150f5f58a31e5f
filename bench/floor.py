"""The floor: the creates a person would script by hand for an ISV estate, with the official
twilio client and 16 threads, against the same emulator. No lookups, no adoption, no retries.

    .venv/bin/python -m bench.floor --url http://127.0.0.1:4010 --customers 10

Per customer, 13 creates in three waves (each wave runs on the 16 threads):
1. the subaccount;
2. a standard key (`backend`), a restricted key (`reporting`), the notifications and
   verification services, and 4 numbers bought by area code (Twilio's `AreaCode` purchase:
   no search call);
3. each service's 2 numbers attached to its sender pool.
Calls inside a subaccount are signed with the auth token its create returned, as a script would.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twilio.rest import Client

from twilio_access.client import build_client
from twilio_access.dev_defaults import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN

THREADS = 16
USE_CASES = ("notifications", "verification")
NUMBERS_PER_SERVICE = 2
COLLECTOR_URL = "https://hooks.example.com/twilio/status"
CREATES_PER_CUSTOMER = 1 + 2 + len(USE_CASES) + 2 * len(USE_CASES) * NUMBERS_PER_SERVICE


@dataclass
class Customer:
    key: str
    area_code: str
    sid: str = ""
    token: str = field(default="", repr=False)
    services: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FloorResult:
    customers: int
    threads: int
    seconds: float
    creates: int


class _Clients:
    """One official client per thread and credentials (its own connection pool)."""

    def __init__(self, emulator_url: str) -> None:
        self._url = emulator_url
        self._local = threading.local()

    def get(self, username: str, password: str) -> Client:
        cache = getattr(self._local, "clients", None)
        if cache is None:
            cache = self._local.clients = {}
        client = cache.get(username)
        if client is None:
            client = cache[username] = build_client(username, password, emulator_url=self._url)
        return client


def _wave(pool: ThreadPoolExecutor, tasks: Iterable[Callable[[], Any]]) -> int:
    futures = [pool.submit(task) for task in tasks]
    for future in futures:
        future.result()
    return len(futures)


def run_floor(
    emulator_url: str,
    customers: list[tuple[str, str]],
    *,
    threads: int = THREADS,
    parent_sid: str = DEV_ACCOUNT_SID,
    parent_token: str = DEV_AUTH_TOKEN,
) -> FloorResult:
    """`customers`: (key, area code) pairs. Returns the wall time of the three waves."""
    clients = _Clients(emulator_url)
    estate = [Customer(key, area_code) for key, area_code in customers]

    def parent() -> Client:
        return clients.get(parent_sid, parent_token)

    def own(customer: Customer) -> Client:
        return clients.get(customer.sid, customer.token)

    def create_subaccount(customer: Customer) -> None:
        account = parent().api.v2010.accounts.create(friendly_name=f"floor {customer.key}")
        customer.sid, customer.token = account.sid, account.auth_token

    def standard_key(customer: Customer) -> None:
        own(customer).api.v2010.accounts(customer.sid).new_keys.create(friendly_name="backend")

    def restricted_key(customer: Customer) -> None:
        own(customer).iam.v1.new_api_key.create(
            account_sid=customer.sid,
            friendly_name="reporting",
            key_type="restricted",
            policy={"allow": ["/twilio/messaging/messages/read"]},
        )

    def service(customer: Customer, use_case: str) -> None:
        created = own(customer).messaging.v1.services.create(
            friendly_name=f"{customer.key} {use_case}",
            usecase=use_case,
            status_callback=COLLECTOR_URL,
        )
        customer.services[use_case] = created.sid

    def number(customer: Customer, use_case: str) -> None:
        bought = (
            own(customer)
            .api.v2010.accounts(customer.sid)
            .incoming_phone_numbers.create(area_code=customer.area_code)
        )
        customer.numbers.setdefault(use_case, []).append(bought.sid)

    def attach(customer: Customer, use_case: str, number_sid: str) -> None:
        services = own(customer).messaging.v1.services
        services(customer.services[use_case]).phone_numbers.create(phone_number_sid=number_sid)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        creates = _wave(pool, [lambda c=c: create_subaccount(c) for c in estate])
        second: list[Callable[[], None]] = []
        for customer in estate:
            second += [lambda c=customer: standard_key(c), lambda c=customer: restricted_key(c)]
            for use_case in USE_CASES:
                second.append(lambda c=customer, u=use_case: service(c, u))
                second += [
                    lambda c=customer, u=use_case: number(c, u) for _ in range(NUMBERS_PER_SERVICE)
                ]
        creates += _wave(pool, second)
        creates += _wave(
            pool,
            [
                lambda c=customer, u=use_case, n=number_sid: attach(c, u, n)
                for customer in estate
                for use_case in USE_CASES
                for number_sid in customer.numbers[use_case]
            ],
        )
    return FloorResult(len(estate), threads, time.perf_counter() - started, creates)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="a running emulator")
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--area-code", default="415")
    args = parser.parse_args()
    customers = [(f"customer-{i:04d}", args.area_code) for i in range(1, args.customers + 1)]
    result = run_floor(args.url, customers, threads=args.threads)
    print(
        f"floor: {result.creates} creates for {result.customers} customers with "
        f"{result.threads} threads in {result.seconds:.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
