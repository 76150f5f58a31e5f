"""Messages move through their statuses over time and report each move by status callback.

Outbound lifecycle (Twilio docs): accepted (sent through a service, sender not yet picked) or
queued, then sending, sent, and finally delivered or undelivered; failed when Twilio could not
send at all; scheduled messages wait for their SendAt. The final outcome and its error code are
drawn when the message is created (seeded rates), so each message knows its path.

Each transition after creation POSTs a form to the message's StatusCallback, else to its
service's, signed with `X-Twilio-Signature` by the sending account's auth token and retried on
failure. Only loopback targets are ever contacted: the host must be `localhost` or a literal
loopback IP, so no name is ever resolved; any other URL is recorded as undeliverable.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import ssl
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

from emulator import defaults
from emulator.registrations import unregistered_10dlc
from emulator.store import CallbackEvent, Record, Store
from emulator.wire import new_sid, now

if TYPE_CHECKING:
    from emulator.runtime import Emulator

log = logging.getLogger("emulator.lifecycle")

FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "canceled", "read", "received"})
PENDING_STATUSES = ("accepted", "scheduled", "queued", "sending", "sent")
FAILED_ERROR_CODES = (30008,)
UNDELIVERED_ERROR_CODES = (30003, 30004, 30005, 30006, 30007)
PRICE_PER_SEGMENT = 0.0079
UNREGISTERED_10DLC_ERROR = 30034
UNDELIVERABLE = "not a loopback address: the emulator never contacts other hosts"


@dataclass(frozen=True)
class Outcome:
    final_status: str  # delivered | undelivered | failed
    error_code: int | None


@dataclass(frozen=True)
class LoopbackTarget:
    connect_host: str
    port: int
    tls: bool
    host_header: str
    request_target: str


def loopback_target(url: str) -> LoopbackTarget | None:
    """Where to connect for `url`, or None if it is not a literal loopback address."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    if host == "localhost":
        connect_host = "127.0.0.1"
    else:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None  # a DNS name: never looked up
        if not address.is_loopback:
            return None
        connect_host = host
    tls = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    netloc = parts.netloc.rpartition("@")[2]
    return LoopbackTarget(connect_host, port or (443 if tls else 80), tls, netloc, target)


async def post_form(
    target: LoopbackTarget, body: bytes, headers: dict[str, str], timeout: float
) -> int:
    """One HTTP/1.1 POST to a loopback server; the answer's status code."""
    context = None
    if target.tls:
        # Loopback test servers use self-signed certificates; nothing leaves the machine.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(target.connect_host, target.port, ssl=context), timeout
    )
    try:
        lines = [
            f"POST {target.request_target} HTTP/1.1",
            f"Host: {target.host_header}",
            "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.read(1 << 20), timeout)
        return int(parts[1])
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class Lifecycle:
    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        seed = emulator.settings.seed
        self._rng = random.Random(None if seed is None else f"lifecycle:{seed}")
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._callback_slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def store(self) -> Store:
        return self._emulator.store

    # --- start and stop -----------------------------------------------------------------------

    def start(self) -> None:
        """Resume what a previous run left in flight: pending messages and callbacks."""
        self._loop = asyncio.get_running_loop()
        self._callback_slots = asyncio.Semaphore(64)
        placeholders = ", ".join("?" * len(PENDING_STATUSES))
        pending = self.store.select(
            "message",
            where=[(f"json_extract(doc, '$.status') IN ({placeholders})", PENDING_STATUSES)],
        )
        for message in pending:
            due_ms = message.doc.get("lifecycle", {}).get("due_ms")
            delay = max(0.0, (due_ms or 0) / 1000.0 - time.time()) if due_ms else 0.0
            self.schedule(message.sid, delay)
        for event in self.store.callback_events(state="pending", limit=1_000_000):
            self._spawn(self._deliver(event))

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    def reseed(self, seed: int | None) -> None:
        self._rng = random.Random(None if seed is None else f"lifecycle:{seed}")

    # --- message progression ------------------------------------------------------------------

    def draw_outcome(self) -> Outcome:
        settings = self._emulator.settings
        draw = self._rng.random()
        if draw < settings.message_failed_rate:
            return Outcome("failed", self._rng.choice(FAILED_ERROR_CODES))
        if draw < settings.message_failed_rate + settings.message_undelivered_rate:
            return Outcome("undelivered", self._rng.choice(UNDELIVERED_ERROR_CODES))
        return Outcome("delivered", None)

    def prepare(self, doc: dict[str, Any], *, start_at: float | None = None) -> float:
        """Draw a new message's outcome into its doc; the delay before its first move."""
        outcome = self.draw_outcome()
        delay = self._step_seconds() if start_at is None else max(0.0, start_at - time.time())
        doc["lifecycle"] = {
            "final_status": outcome.final_status,
            "error_code": outcome.error_code,
            "due_ms": int((time.time() + delay) * 1000),
        }
        return delay

    def cancel(self, message: Record) -> None:
        timer = self._timers.pop(message.sid, None)
        if timer is not None:
            timer.cancel()
        message.doc.get("lifecycle", {}).pop("due_ms", None)
        self._notify(message)

    def _step_seconds(self) -> float:
        return self._emulator.settings.lifecycle_step_ms / 1000.0

    def _plan(self, message: Record, delay: float) -> None:
        message.doc.setdefault("lifecycle", {})["due_ms"] = int((time.time() + delay) * 1000)

    def schedule(self, sid: str, delay: float) -> None:
        """Move message `sid` one step after `delay` seconds (replacing any pending move)."""
        assert self._loop is not None
        previous = self._timers.pop(sid, None)
        if previous is not None:
            previous.cancel()
        self._timers[sid] = self._loop.call_later(delay, self._advance, sid)

    def _advance(self, sid: str) -> None:
        self._timers.pop(sid, None)
        message = self.store.get(sid, "message")
        if message is None or message.doc["status"] in FINAL_STATUSES:
            return
        try:
            self._step(message)
        except Exception:  # a broken step must not kill the event loop's timer callback
            log.exception("message %s could not advance", sid)

    def _step(self, message: Record) -> None:
        doc = message.doc
        plan = doc.setdefault("lifecycle", {})
        status = doc["status"]
        final_status = plan.get("final_status", "delivered")
        stamp = now()
        if status in ("accepted", "scheduled"):
            doc["status"] = "queued"
            if doc["from"] is None and not self._assign_sender(message):
                doc["status"] = "failed"
                doc["error_code"] = 30008
        elif status == "queued":
            if final_status == "failed":
                doc["status"] = "failed"
                doc["error_code"] = plan.get("error_code") or 30008
            elif self._emulator.settings.a2p_gating and unregistered_10dlc(self.store, doc["from"]):
                # Carriers block US 10DLC traffic without a verified A2P campaign.
                doc["status"] = "failed"
                doc["error_code"] = UNREGISTERED_10DLC_ERROR
            else:
                doc["status"] = "sending"
        elif status == "sending":
            doc["status"] = "sent"
            doc["date_sent"] = stamp
            doc["price"] = f"-{PRICE_PER_SEGMENT * int(doc['num_segments'] or 1):.5f}"
            doc["price_unit"] = "USD"
        elif status == "sent":
            doc["status"] = final_status
            if final_status == "undelivered":
                doc["error_code"] = plan.get("error_code") or 30003
        if doc["status"] == "failed":
            doc["price_unit"] = "USD"
        if doc["status"] in FINAL_STATUSES:
            plan.pop("due_ms", None)
        else:
            self._plan(message, self._step_seconds())
        self.store.save(message, at=stamp)
        self._notify(message)
        if doc["status"] not in FINAL_STATUSES:
            self.schedule(message.sid, self._step_seconds())

    def _assign_sender(self, message: Record) -> bool:
        """Pick the sender of a service message: sticky, then area-code match, then spread."""
        service = self.store.get(message.container_sid or "", "service")
        if service is None:
            return False
        to = message.doc["to"]
        numbers = [
            n
            for n in self.store.select("number", container_sid=service.sid)
            if n.doc["capabilities"].get("sms") or n.doc["capabilities"].get("mms")
        ]
        candidates = [n.doc["phone_number"] for n in numbers]
        candidates += [
            s.doc["short_code"] for s in self.store.select("short_code", container_sid=service.sid)
        ]
        if not candidates:
            candidates = [
                a.doc["alpha_sender"]
                for a in self.store.select("alpha_sender", container_sid=service.sid)
            ]
        if not candidates:
            return False
        chosen = None
        if service.doc.get("sticky_sender"):
            previous = self.store.select(
                "message",
                container_sid=service.sid,
                where=[
                    ("json_extract(doc, '$.to') = ?", (to,)),
                    ("json_extract(doc, '$.from') IS NOT NULL", ()),
                ],
                newest_first=True,
                limit=1,
            )
            if previous and previous[0].doc["from"] in candidates:
                chosen = previous[0].doc["from"]
        if chosen is None and service.doc.get("area_code_geomatch") and to.startswith("+1"):
            local = [c for c in candidates if c.startswith(to[:5])]
            if local:
                candidates = local
        if chosen is None:
            chosen = candidates[sum(to.encode()) % len(candidates)]
        message.doc["from"] = chosen
        message.doc["num_segments"] = message.doc["lifecycle"].get("segments", "1")
        return True

    # --- status callbacks ---------------------------------------------------------------------

    def _callback_url(self, message: Record) -> str | None:
        url = message.doc.get("status_callback")
        if url:
            return url
        if message.container_sid:
            service = self.store.get(message.container_sid, "service")
            if service is not None:
                return service.doc.get("status_callback") or None
        return None

    def _notify(self, message: Record) -> None:
        url = self._callback_url(message)
        if url is None:
            return
        doc = message.doc
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": doc["status"],
            "SmsStatus": doc["status"],
            "To": doc["to"],
        }
        if doc["from"] is not None:
            params["From"] = doc["from"]
        if message.container_sid:
            params["MessagingServiceSid"] = message.container_sid
        if doc["status"] in ("failed", "undelivered") and doc.get("error_code"):
            params["ErrorCode"] = str(doc["error_code"])
        if doc["status"] in ("delivered", "undelivered"):
            params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
        token = new_sid("ID")  # stable across retries of this one event
        if loopback_target(url) is None:
            self.store.add_callback_event(
                message.sid, message.account_sid, url, params, token, "undeliverable", UNDELIVERABLE
            )
            return
        event = self.store.add_callback_event(
            message.sid, message.account_sid, url, params, token, "pending"
        )
        self._spawn(self._deliver(event))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: CallbackEvent) -> None:
        settings = self._emulator.settings
        target = loopback_target(event.url)
        account = self.store.get(event.account_sid, "account")
        if target is None or account is None:
            event.state = "undeliverable"
            event.last_error = UNDELIVERABLE if target is None else "account no longer exists"
            self.store.update_callback_event(event)
            return
        if settings.callback_jitter_ms:
            await asyncio.sleep(self._rng.uniform(0, settings.callback_jitter_ms) / 1000.0)
        body = urlencode(event.params).encode()
        signature = RequestValidator(account.doc["auth_token"]).compute_signature(
            event.url, event.params
        )
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": event.idempotency_token,
            "User-Agent": "TwilioProxy/1.1",
        }
        assert self._callback_slots is not None
        while True:
            event.attempts += 1
            try:
                async with self._callback_slots:
                    status = await post_form(
                        target, body, headers, defaults.DEFAULT_CALLBACK_TIMEOUT_S
                    )
                event.last_status = status
                event.last_error = None if 200 <= status < 300 else f"HTTP {status}"
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                event.last_status = None
                event.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if event.last_error is None:
                event.state = "delivered"
                self.store.update_callback_event(event)
                return
            if event.attempts >= settings.callback_attempts:
                event.state = "failed"
                self.store.update_callback_event(event)
                return
            self.store.update_callback_event(event)
            await asyncio.sleep(settings.callback_retry_ms / 1000.0 * 2 ** (event.attempts - 1))
