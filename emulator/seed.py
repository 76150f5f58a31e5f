"""`python -m emulator seed legacy|scale`: write a ready-made estate into an emulator database.

- `legacy`: the account of a team that grew without guardrails, to practise the audit on: the
  parent sends (numbers and a mixed-use service on itself, 30 days of messages), subaccounts are
  named by hand, services lack status callbacks or use plain http, one number is in no
  service, two services serve one use case, keys exist on some accounts only, there is no
  staging subaccount.
- `scale`: a large ISV (default 3,000 subaccounts and 30,000 numbers) for the audit benchmark.

Seeding writes the database directly, like Twilio's own back office would (the API refuses
more than 1,000 subaccounts); run it before `python -m emulator` starts on the same `--db`,
or while it runs (SQLite WAL: the server sees the rows on its next query). A database that
already holds subaccounts or numbers is refused, so an estate is never seeded twice.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from emulator import defaults, inventory
from emulator.api_accounts import create_account, ensure_bootstrap_account
from emulator.api_keys import create_key
from emulator.api_messages import segment_count
from emulator.api_numbers import NUMBER_DEFAULTS
from emulator.auth import RESTRICTED_KEY, STANDARD_KEY
from emulator.faults import RuntimeSettings
from emulator.messaging_services import create_service
from emulator.runtime import Emulator, EmulatorConfig
from emulator.store import Record, Store
from emulator.wire import new_secret, new_sid, now

DAY = 86400
PRICE_PER_SEGMENT = 0.0079
SEND_PERMISSION = "/twilio/messaging/messages/create"

# Bodies of the legacy estate's traffic, one list per use case, so a service's messages tell
# what it is used for.
VERIFICATION_BODIES = (
    "Your verification code is 482913. It expires in 10 minutes.",
    "Use code 771204 to sign in. Never share this code.",
)
MARKETING_BODIES = (
    "Spring sale: 20% off all whitening treatments this week! Reply STOP to opt out.",
    "Exclusive offer for members: book now and save $30. Reply STOP to unsubscribe.",
)
NOTIFICATION_BODIES = (
    "Reminder: your appointment is tomorrow at 10:30. Reply C to confirm.",
    "Your order has shipped and will arrive Thursday.",
)


class SeedError(Exception):
    """The estate cannot be seeded into this database (one line for the user)."""


@dataclass(frozen=True)
class SeedSummary:
    subaccounts: int
    services: int
    numbers: int
    keys: int
    messages: int

    def describe(self) -> str:
        return (
            f"{self.subaccounts} subaccounts, {self.services} Messaging Services, "
            f"{self.numbers} numbers, {self.keys} API keys, {self.messages} messages"
        )


class Seeder:
    """Writes Twilio objects straight into the store, shaped exactly as the API makes them."""

    def __init__(self, db_path: str, account_sid: str, auth_token: str) -> None:
        settings = RuntimeSettings()
        config = EmulatorConfig(db_path, account_sid, auth_token, True, settings)
        self.store = Store(db_path)
        self.emulator = Emulator(config, self.store)
        self.parent = ensure_bootstrap_account(self.emulator)
        self._taken: set[str] = set()
        self._numbers = self._number_supply()
        self.counts = {"subaccounts": 0, "services": 0, "numbers": 0, "keys": 0, "messages": 0}

    def close(self) -> None:
        self.store.close()

    def refuse_if_seeded(self) -> None:
        parent_sid = self.parent.sid
        others = self.store.count("account", account_sids=[parent_sid]) - 1
        if others or self.store.count("number"):
            raise SeedError(
                f"the database already holds an estate ({others} subaccounts): seed a fresh --db"
            )

    def summary(self) -> SeedSummary:
        return SeedSummary(**self.counts)

    # --- objects ---------------------------------------------------------------------------

    def subaccount(self, friendly_name: str, status: str = "active") -> Record:
        record = create_account(
            self.emulator,
            sid=new_sid("AC"),
            auth_token=new_secret(),
            friendly_name=friendly_name,
            owner_account_sid=self.parent.sid,
        )
        if status != "active":
            record.doc["status"] = status
            self.store.save(record)
        self.counts["subaccounts"] += 1
        return record

    def service(
        self,
        account: Record,
        friendly_name: str,
        usecase: str,
        status_callback: str | None = None,
        **settings: Any,
    ) -> Record:
        self.counts["services"] += 1
        return create_service(
            self.emulator,
            account.sid,
            {
                "friendly_name": friendly_name,
                "usecase": usecase,
                "status_callback": status_callback,
                **settings,
            },
        )

    def number(
        self, account: Record, *, sms_url: str | None = None, service: Record | None = None
    ) -> Record:
        entry = next(self._numbers)
        doc = {
            **NUMBER_DEFAULTS,
            "phone_number": entry.phone_number,
            "friendly_name": entry.friendly_name,
            "iso_country": entry.iso_country,
            "number_type": entry.number_type,
            "capabilities": entry.capabilities,
            "sms_url": sms_url,
        }
        record = self.emulator.create(
            "number", new_sid("PN"), account.sid, doc, unique_key=entry.phone_number
        )
        if service is not None:
            # Pool membership is the number's container, as messaging_services keeps it.
            record.container_sid = service.sid
            record.doc["pooled_at"] = now()
            self.store.save(record)
        self.counts["numbers"] += 1
        return record

    def key(self, account: Record, friendly_name: str, kind: str = STANDARD_KEY) -> Record:
        policy = {"allow": [SEND_PERMISSION]} if kind == RESTRICTED_KEY else None
        record, _secret = create_key(self.emulator, account.sid, friendly_name, kind, policy)
        self.counts["keys"] += 1
        return record

    def messages(
        self,
        account: Record,
        bodies: Sequence[str],
        count: int,
        *,
        sender: Record,
        service: Record | None,
        days: int = 30,
        rng: random.Random,
    ) -> None:
        """`count` delivered messages spread over the last `days` days (final: the lifecycle
        leaves them alone), priced like sent ones so Usage Records count them."""
        stamp = now()
        for index in range(count):
            body = bodies[index % len(bodies)]
            segments = segment_count(body)
            sent = stamp - rng.randint(60, days * DAY - 3600)
            doc = {
                "to": f"+1415555{rng.randint(0, 9999):04d}",
                "from": sender.doc["phone_number"],
                "body": body,
                "status": "delivered",
                "num_segments": str(segments),
                "num_media": "0",
                "error_code": None,
                "price": f"{-PRICE_PER_SEGMENT * segments:.5f}",
                "price_unit": "USD",
                "date_sent": sent,
                "status_callback": None,
                "validity_period": None,
                "lifecycle": {"segments": str(segments)},
            }
            self.store.insert(
                "message",
                new_sid("SM"),
                account.sid,
                doc,
                container_sid=service.sid if service else None,
                at=sent,
            )
        self.counts["messages"] += count

    def _number_supply(self) -> Iterator[inventory.InventoryNumber]:
        """SMS-capable local numbers from the emulator's own inventory, never one owned."""
        owned = {r.unique_key for r in self.store.select("number") if r.unique_key}
        area_codes = ("415", "510", "650", "212", "646", "312", "617", "206", "512", "305")
        for line in range(2_000_000, 10_000_000):
            for npa in area_codes:
                entry = inventory.lookup(f"+1{npa}{line:07d}")
                if entry is None or not entry.sms or entry.phone_number in owned:
                    continue
                yield entry
        raise SeedError("the number inventory is exhausted")


def seed_legacy(seeder: Seeder, rng: random.Random) -> None:
    parent = seeder.parent
    # The parent sends: a mixed-use service on itself, and a loose number with a plain-http
    # inbound webhook.
    main = seeder.service(parent, "Main messaging", "undeclared")
    main_number = seeder.number(parent, service=main)
    loose = seeder.number(parent, sms_url="http://legacy.example.com/sms/inbound")
    seeder.messages(
        parent,
        [*VERIFICATION_BODIES, *MARKETING_BODIES, *NOTIFICATION_BODIES],
        36,
        sender=main_number,
        service=main,
        rng=rng,
    )
    seeder.messages(parent, NOTIFICATION_BODIES, 6, sender=loose, service=None, rng=rng)
    seeder.key(parent, "legacy backend")

    # A production customer, named by hand: two services for one use case, one with a
    # plain-http status callback; only standard keys.
    acme = seeder.subaccount("Acme Corp")
    alerts = seeder.service(
        acme, "Acme alerts", "notifications", "http://hooks.acme.example.com/twilio/status"
    )
    reminders = seeder.service(
        acme, "Acme reminders", "notifications", "https://hooks.acme.example.com/twilio/status"
    )
    alerts_number = seeder.number(acme, service=alerts)
    seeder.number(acme, service=reminders)
    seeder.number(acme)  # bought for a campaign, never put in a service
    seeder.messages(acme, NOTIFICATION_BODIES, 8, sender=alerts_number, service=alerts, rng=rng)
    seeder.key(acme, "acme web")
    seeder.key(acme, "acme worker")

    # A customer whose marketing service also sends verification codes (mixed use by traffic).
    bayside = seeder.subaccount("Bayside Dental - prod")
    promos = seeder.service(
        bayside, "Bayside promos", "marketing", "https://hooks.bayside.example.com/status"
    )
    promo_number = seeder.number(bayside, service=promos)
    seeder.messages(bayside, MARKETING_BODIES, 6, sender=promo_number, service=promos, rng=rng)
    seeder.messages(bayside, VERIFICATION_BODIES, 4, sender=promo_number, service=promos, rng=rng)
    seeder.key(bayside, "bayside app", RESTRICTED_KEY)

    # A test account without a status callback or any key; no staging subaccount anywhere.
    sandbox = seeder.subaccount("test account")
    dev_service = seeder.service(sandbox, "Dev sandbox", "notifications")
    seeder.number(sandbox, service=dev_service)

    seeder.subaccount("Old pilot", status="suspended")
    seeder.subaccount("Churned customer", status="closed")


def seed_scale(
    seeder: Seeder, rng: random.Random, subaccounts: int, numbers: int, parent_messages: int = 0
) -> None:
    """An ISV: development and staging, then one production subaccount per customer, each
    with a notifications service holding its numbers (every tenth number left out of it)
    and a restricted key (every seventh customer has a standard one instead).
    `parent_messages`: messages sent over 30 days from a number left on the parent."""
    if parent_messages:
        legacy_number = seeder.number(seeder.parent)
        bodies = [*VERIFICATION_BODIES, *MARKETING_BODIES, *NOTIFICATION_BODIES]
        seeder.messages(
            seeder.parent, bodies, parent_messages, sender=legacy_number, service=None, rng=rng
        )
    per_account, extra = divmod(numbers, subaccounts)
    for index in range(subaccounts):
        if index == 0:
            name = "Development"
        elif index == 1:
            name = "Staging"
        else:
            name = f"Customer {index - 1:05d}"
        account = seeder.subaccount(name)
        service = seeder.service(
            account, f"{name} notifications", "notifications", "https://hooks.example.com/status"
        )
        for slot in range(per_account + (1 if index < extra else 0)):
            seeder.number(account, service=None if slot % 10 == 9 else service)
        kind = STANDARD_KEY if index % 7 == 6 else RESTRICTED_KEY
        seeder.key(account, f"{name} app", kind)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator seed",
        description="Write a ready-made estate into an emulator database (see emulator/seed.py).",
    )
    parser.add_argument("estate", choices=("legacy", "scale"), help="which estate")
    parser.add_argument("--db", default=defaults.DEFAULT_DB_PATH, help="SQLite database path")
    parser.add_argument("--account-sid", default=defaults.DEV_ACCOUNT_SID, help="parent SID")
    parser.add_argument("--auth-token", default=defaults.DEV_AUTH_TOKEN, help="parent token")
    parser.add_argument("--subaccounts", type=int, default=3000, help="scale: subaccounts")
    parser.add_argument("--numbers", type=int, default=30000, help="scale: phone numbers")
    parser.add_argument(
        "--parent-messages", type=int, default=0, help="scale: messages sent from the parent"
    )
    parser.add_argument("--random-seed", type=int, default=17, help="repeatable message times")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.estate == "scale" and not (
        1 <= args.subaccounts <= 100_000 and args.numbers >= 0 and args.parent_messages >= 0
    ):
        parser.error("--subaccounts must be 1-100000, --numbers and --parent-messages not negative")
    seeder = Seeder(args.db, args.account_sid, args.auth_token)
    rng = random.Random(args.random_seed)
    try:
        seeder.refuse_if_seeded()
        with seeder.store.transaction():
            if args.estate == "legacy":
                seed_legacy(seeder, rng)
            else:
                seed_scale(seeder, rng, args.subaccounts, args.numbers, args.parent_messages)
    except SeedError as error:
        print(f"emulator seed: {error}", file=sys.stderr)
        return 1
    finally:
        seeder.close()
    print(f"Seeded the {args.estate} estate into {args.db}: {seeder.summary().describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
