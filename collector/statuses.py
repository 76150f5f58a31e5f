"""Where each message status sits in the lifecycle, so arrival order never decides the outcome.

Twilio may deliver status callbacks out of order (a `sent` can arrive after `delivered`). A
message's current status is therefore the highest-ranked status seen, not the latest one. The
ranks form a total order, also among final statuses, so that even contradictory receipts
(`undelivered`, then a carrier's late `delivered`) settle on the same answer whatever order they
arrive in.
"""

from __future__ import annotations

# Outbound: accepted/scheduled -> queued -> sending -> sent -> delivered | undelivered, `failed`
# when Twilio could not send at all, `read` after delivery on channels with read receipts.
# Inbound: receiving -> received. Statuses Twilio adds later rank 0: stored, never promoted.
STATUS_RANKS: dict[str, int] = {
    "accepted": 10,
    "scheduled": 10,
    "queued": 20,
    "sending": 30,
    "receiving": 30,
    "sent": 40,
    "canceled": 50,
    "failed": 60,
    "undelivered": 61,
    "partially_delivered": 62,
    "received": 63,
    "delivered": 64,
    "read": 70,
}

UNKNOWN_RANK = 0

# A message in one of these statuses will not change any more (barring `read` receipts).
FINAL_STATUSES = frozenset(
    {"canceled", "failed", "undelivered", "partially_delivered", "received", "delivered", "read"}
)
DELIVERED_STATUSES = frozenset({"delivered", "read"})
# Handed to a carrier: `sent` and everything a carrier reported back about.
REACHED_CARRIER_STATUSES = frozenset(
    {"sent", "undelivered", "partially_delivered", "delivered", "read"}
)


def status_rank(status: str) -> int:
    return STATUS_RANKS.get(status, UNKNOWN_RANK)


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES
