"""Review lifecycle of Trust Hub bundles, A2P brands and campaigns, which tests can script.

Submitted registrations move on their own, one step per `registration_step_ms` (a run-time
setting, default short), like Twilio's reviews but in milliseconds:

- bundles (customer profiles, trust products): pending-review -> in-review -> twilio-approved;
- brands: PENDING -> APPROVED, once both of its bundles are twilio-approved;
- campaigns: PENDING -> IN_PROGRESS -> VERIFIED, once its brand is APPROVED.

A step whose prerequisite is not there yet waits another step. The admin API decides instead
of the timer: approve, reject with one of Twilio's failure reasons (`a2p_catalog`), hold (no
automatic move until approved, rejected or resumed) or resume. The next due time is stored with
the record, so a restarted emulator picks up where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator import a2p_catalog
from emulator.store import Record, Store
from emulator.wire import now

if TYPE_CHECKING:
    from emulator.runtime import Emulator

log = logging.getLogger("emulator.registrations")

BUNDLE_KINDS = (a2p_catalog.CUSTOMER_PROFILE, a2p_catalog.TRUST_PRODUCT)
BRAND = "brand"
CAMPAIGN = "campaign"
KINDS = (*BUNDLE_KINDS, BRAND, CAMPAIGN)
VALIDITY_S = 365 * 24 * 3600
MIN_STEP_S = 0.01


@dataclass(frozen=True)
class Flow:
    field: str  # the status field of the record's doc
    steps: dict[str, str]  # automatic moves
    approved: str
    rejected: str
    reasons: str  # key into a2p_catalog.FAILURE_REASONS


_BUNDLE_FLOW = Flow(
    "status",
    {"pending-review": "in-review", "in-review": "twilio-approved"},
    "twilio-approved",
    "twilio-rejected",
    "bundle",
)
FLOWS: dict[str, Flow] = {
    a2p_catalog.CUSTOMER_PROFILE: _BUNDLE_FLOW,
    a2p_catalog.TRUST_PRODUCT: _BUNDLE_FLOW,
    BRAND: Flow(
        "status", {"PENDING": "APPROVED", "IN_REVIEW": "APPROVED"}, "APPROVED", "FAILED", "brand"
    ),
    CAMPAIGN: Flow(
        "campaign_status",
        {"PENDING": "IN_PROGRESS", "IN_PROGRESS": "VERIFIED"},
        "VERIFIED",
        "FAILED",
        "campaign",
    ),
}
_PREFIX_KINDS = {"BU": BUNDLE_KINDS, "BN": (BRAND,), "QE": (CAMPAIGN,)}


class RegistrationError(ValueError):
    """An admin request that cannot apply (unknown SID, unknown reason)."""


def tcr_id(prefix: str) -> str:
    """A Campaign Registry ID: a letter and six upper-case letters or digits (e.g. BXXXXXX)."""
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(6))


def status_of(record: Record) -> str:
    return str(record.doc[FLOWS[record.kind].field])


def find_registration(store: Store, sid: str) -> Record | None:
    for kind in _PREFIX_KINDS.get(sid[:2], ()):
        record = store.get(sid, kind)
        if record is not None:
            return record
    return None


class Registrations:
    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def store(self) -> Store:
        return self._emulator.store

    def _step_seconds(self) -> float:
        return self._emulator.settings.registration_step_ms / 1000.0

    # --- start and stop -----------------------------------------------------------------------

    def start(self) -> None:
        """Resume every review a previous run left in flight."""
        self._loop = asyncio.get_running_loop()
        for kind in KINDS:
            for record in self.store.select(
                kind, where=[("json_extract(doc, '$.review.due_ms') IS NOT NULL", ())]
            ):
                due_ms = record.doc["review"]["due_ms"]
                self._arm(record.sid, kind, max(0.0, due_ms / 1000.0 - time.time()))

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # --- scheduling ---------------------------------------------------------------------------

    def submit(self, record: Record, status: str) -> None:
        """Put `record` in `status` and start its review (unless held); the caller saves it."""
        record.doc[FLOWS[record.kind].field] = status
        held = bool((record.doc.get("review") or {}).get("held"))
        record.doc["review"] = {"held": held, "due_ms": None}
        self._plan(record)

    def _plan(self, record: Record) -> None:
        review = record.doc.setdefault("review", {"held": False, "due_ms": None})
        if review.get("held") or status_of(record) not in FLOWS[record.kind].steps:
            review["due_ms"] = None
            self._cancel(record.sid)
            return
        # At least 10 ms, so a step that waits on its bundles or brand never spins the loop.
        delay = max(self._step_seconds(), MIN_STEP_S)
        review["due_ms"] = int((time.time() + delay) * 1000)
        self._arm(record.sid, record.kind, delay)

    def _arm(self, sid: str, kind: str, delay: float) -> None:
        if self._loop is None:  # not serving yet: start() resumes it from the stored due time
            return
        self._cancel(sid)
        self._timers[sid] = self._loop.call_later(delay, self._advance, sid, kind)

    def forget(self, sid: str) -> None:
        """A deleted record: no step is due any more."""
        self._cancel(sid)

    def _cancel(self, sid: str) -> None:
        timer = self._timers.pop(sid, None)
        if timer is not None:
            timer.cancel()

    def _advance(self, sid: str, kind: str) -> None:
        self._timers.pop(sid, None)
        try:
            record = self.store.get(sid, kind)
            if record is None or record.doc.get("review", {}).get("held"):
                return
            flow = FLOWS[kind]
            target = flow.steps.get(status_of(record))
            if target is None:
                return
            if target == flow.approved and not self._prerequisites_met(record):
                self._plan(record)  # wait another step for the bundles or the brand
                self.store.save(record, at=record.date_updated)
                return
            self._move(record, target)
        except Exception:  # a broken step must not kill the event loop's timer callback
            log.exception("registration %s could not advance", sid)

    def _prerequisites_met(self, record: Record) -> bool:
        if record.kind == BRAND:
            return all(
                (bundle := self.store.get(record.doc[key], kind)) is not None
                and bundle.doc["status"] == "twilio-approved"
                for key, kind in (
                    ("customer_profile_bundle_sid", a2p_catalog.CUSTOMER_PROFILE),
                    ("a2p_profile_bundle_sid", a2p_catalog.TRUST_PRODUCT),
                )
            )
        if record.kind == CAMPAIGN:
            brand = self.store.get(record.doc["brand_registration_sid"], BRAND)
            return brand is not None and brand.doc["status"] == "APPROVED"
        return True

    # --- moves --------------------------------------------------------------------------------

    def _move(self, record: Record, target: str) -> None:
        flow = FLOWS[record.kind]
        record.doc[flow.field] = target
        if target == flow.approved:
            self._on_approved(record)
        self._plan(record)
        self.store.save(record)
        if record.kind == CAMPAIGN:
            sync_service(self.store, record)

    def _on_approved(self, record: Record) -> None:
        doc = record.doc
        doc["errors"] = [] if record.kind in (BRAND, CAMPAIGN) else None
        if record.kind in BUNDLE_KINDS:
            doc["valid_until"] = now() + VALIDITY_S
        elif record.kind == BRAND:
            doc["failure_reason"] = None
            doc["identity_status"] = "VERIFIED"
        else:
            # Throughput Twilio reports per carrier once a campaign is verified (spec example).
            doc["rate_limits"] = {
                "att": {"mps": 600, "msg_class": "A"},
                "tmobile": {"brand_tier": "TOP"},
            }

    def approve(self, record: Record) -> None:
        record.doc.setdefault("review", {})["held"] = False
        self._move(record, FLOWS[record.kind].approved)

    def reject(self, record: Record, code: int | None) -> None:
        flow = FLOWS[record.kind]
        reasons = a2p_catalog.FAILURE_REASONS[flow.reasons]
        chosen = next(iter(reasons)) if code is None else code
        if chosen not in reasons:
            raise RegistrationError(
                f"{chosen} is not a {flow.reasons} failure reason; use one of {sorted(reasons)}"
            )
        description, fields = reasons[chosen]
        record.doc.setdefault("review", {})["held"] = False
        record.doc[flow.field] = flow.rejected
        if record.kind in BUNDLE_KINDS:
            record.doc["errors"] = [{"code": chosen}]
        else:
            record.doc["errors"] = [
                {"code": chosen, "description": description, "fields": list(fields)}
            ]
        if record.kind == BRAND:
            record.doc["failure_reason"] = description
        self._plan(record)
        self.store.save(record)
        if record.kind == CAMPAIGN:
            sync_service(self.store, record)

    def hold(self, record: Record) -> None:
        record.doc.setdefault("review", {})["held"] = True
        self._plan(record)
        self.store.save(record)

    def resume(self, record: Record) -> None:
        record.doc.setdefault("review", {})["held"] = False
        self._plan(record)
        self.store.save(record)

    def describe(self, record: Record) -> dict[str, Any]:
        review = record.doc.get("review") or {}
        return {
            "sid": record.sid,
            "kind": record.kind,
            "account_sid": record.account_sid,
            "status": status_of(record),
            "held": bool(review.get("held")),
            "next_step_due_ms": review.get("due_ms"),
            "errors": record.doc.get("errors"),
        }


# --- the traffic gate ---------------------------------------------------------------------------

US_10DLC_TYPES = ("local", "mobile")


def campaign_verified(store: Store, service_sid: str) -> bool:
    service = store.get(service_sid, "service")
    return bool(service and service.doc.get("us_app_to_person_registered"))


def sync_service(store: Store, campaign: Record, *, removed: bool = False) -> None:
    """Keep the service's `us_app_to_person_registered` in step with its campaign.

    Kept on the service itself so that rendering a service costs no extra query (the service
    fetch is the emulator's hot path in bench/emulator_rps.py).
    """
    service = store.get(campaign.container_sid or "", "service")
    if service is None:
        return
    registered = not removed and campaign.doc.get("campaign_status") == "VERIFIED"
    if bool(service.doc.get("us_app_to_person_registered")) != registered:
        service.doc["us_app_to_person_registered"] = registered
        store.save(service, at=service.date_updated)


def unregistered_10dlc(store: Store, sender: str | None) -> bool:
    """A US 10DLC number outside any service with a VERIFIED campaign (Twilio error 30034).

    Registration follows the number: it is registered through the campaign of the service
    whose sender pool holds it, whichever service carried the message.
    """
    if not sender or not sender.startswith("+1"):
        return False
    number = store.by_unique_key("number", sender)
    if number is None or number.doc.get("iso_country") != "US":
        return False
    if number.doc.get("number_type") not in US_10DLC_TYPES:
        return False
    return number.container_sid is None or not campaign_verified(store, number.container_sid)
