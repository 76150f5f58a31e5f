"""Read a whole Twilio account, read-only, paged and with bounded concurrency.

What is read, per account (the parent and every subaccount):
- the account (status, friendly name): one paged list of the parent's accounts;
- its Messaging Services with every setting, and each one's senders (PhoneNumbers, ShortCodes,
  AlphaSenders);
- its IncomingPhoneNumbers with their webhooks;
- its API keys (IAM v1), with the policy of each restricted one;
- the newest `traffic_sample` messages, classified per service (estate.traffic), no body kept;
- for the parent only, the last `days` days of sending: Usage Records `sms-outbound` with
  IncludeSubaccounts=false for the exact count and price (one request whatever the volume),
  and the message list streamed newest first, at most `parent_scan` messages, to name the
  numbers and services that sent.

Each account's reads are signed with its own credentials (the subaccount's auth token comes
with the parent's list of accounts), so every account's own limit carries its own load and
v1 APIs, which act on the signing account, see that account. The HTTP layer refuses anything
but GET, allows at most `concurrency` requests in flight per signing account, and retries 429s
after their Retry-After (twilio_access.transport). Accounts are read `concurrency` at a time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from estate import traffic
from estate.environments import PRODUCTION, environment_of
from estate.model import Account, ApiKey, Estate, ParentTraffic, PhoneNumber, Sender, Service
from twilio_access.client import build_client, make_http_client
from twilio_access.credentials import ParentCredentials
from twilio_access.transport import AccountGate, RetryingHttpClient, RetryPolicy

T = TypeVar("T")

PAGE_SIZE = 1000
SERVICE_SETTINGS = (
    "inbound_request_url",
    "inbound_method",
    "fallback_url",
    "fallback_method",
    "status_callback",
    "sticky_sender",
    "mms_converter",
    "smart_encoding",
    "scan_message_content",
    "fallback_to_long_code",
    "area_code_geomatch",
    "validity_period",
    "synchronous_validation",
    "usecase",
    "use_inbound_webhook_on_number",
    "us_app_to_person_registered",
)


class WriteRefusedError(Exception):
    """The audit is read-only: a request that could change the account never leaves."""


@dataclass(frozen=True)
class ReadOptions:
    concurrency: int = 16  # requests in flight per account; accounts read at once
    days: int = 30
    traffic_sample: int = 200  # newest messages per account classified by use case
    parent_scan: int = 10_000  # parent messages streamed to name what sent them


class ReadOnlyHttpClient(HttpClient):
    """GET only, at most `per_account` requests in flight per signing account, counted."""

    def __init__(self, inner: HttpClient, per_account: int) -> None:
        super().__init__(logger=inner.logger, is_async=False, timeout=inner.timeout)
        self.inner = inner
        self.per_account = per_account
        self._gate = AccountGate(per_account)
        self._count_lock = threading.Lock()
        self.requests = 0

    def request(
        self,
        method: str,
        url: str,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects: bool = False,
    ) -> Response:
        if method.upper() not in {"GET", "HEAD"}:
            raise WriteRefusedError(f"the audit is read-only; refused {method} {url}")
        with self._count_lock:
            self.requests += 1
        with self._gate.slot(auth):
            return self.inner.request(
                method, url, params, data, headers, auth, timeout, allow_redirects
            )


class AccountReader:
    def __init__(self, credentials: ParentCredentials, options: ReadOptions) -> None:
        if options.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.credentials = credentials
        self.options = options
        self.http = ReadOnlyHttpClient(
            make_http_client(credentials.emulator_url), options.concurrency
        )
        # 429 and 5xx are retried (all these requests are reads), Retry-After honoured. The
        # transport's own per-account gate is sized the same; ours is the one that binds.
        self._retrying = RetryingHttpClient(
            self.http, RetryPolicy(per_account_concurrency=max(options.concurrency, 16))
        )

    def client(self, username: str, password: str, account_sid: str | None = None) -> Client:
        return build_client(username, password, account_sid, http_client=self._retrying)

    # --- the whole account ------------------------------------------------------------------

    def read(self) -> Estate:
        creds = self.credentials
        parent_client = self.client(creds.account_sid, creds.auth_token)
        parent_record = parent_client.api.v2010.accounts(creds.account_sid).fetch()
        since = datetime.now(UTC) - timedelta(days=self.options.days)
        with ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="audit") as pool:
            parent_future = pool.submit(
                self._read_account, parent_record, creds.auth_token, is_parent=True
            )
            traffic_future = pool.submit(self._parent_traffic, parent_client, since)
            futures = [
                pool.submit(self._read_account, record, record.auth_token, is_parent=False)
                for record in parent_client.api.v2010.accounts.stream(page_size=PAGE_SIZE)
                if record.sid != creds.account_sid
            ]
            parent = parent_future.result()
            subaccounts = tuple(future.result() for future in futures)
            parent_traffic = traffic_future.result()
        return Estate(parent, subaccounts, parent_traffic, requests=self.http.requests)

    # --- one account ------------------------------------------------------------------------

    def _read_account(self, record: Any, auth_token: str | None, *, is_parent: bool) -> Account:
        base = Account(
            sid=record.sid,
            friendly_name=record.friendly_name or "",
            status=record.status,
            is_parent=is_parent,
            environment=PRODUCTION if is_parent else environment_of(record.friendly_name or ""),
        )
        if record.status == "closed":
            return _replace(base, unreadable="closed: Twilio keeps nothing readable")
        if not auth_token:
            return _replace(base, unreadable="its auth token was not returned")
        client = self.client(record.sid, auth_token)
        try:
            numbers = tuple(self._numbers(client))
            senders_of, listed = self._services(client)
            sample = self._traffic_sample(client)
            keys = tuple(self._keys(client, record.sid))
        except (TwilioRestException, TwilioException) as error:
            return _replace(base, unreadable=_why(error))
        services = tuple(
            Service(
                sid=s.sid,
                friendly_name=s.friendly_name or "",
                usecase=(s.usecase or "undeclared").lower(),
                settings={name: getattr(s, name, None) for name in SERVICE_SETTINGS},
                senders=senders_of[s.sid],
                traffic=dict(sample.get(s.sid, {})),
            )
            for s in listed
        )
        return _replace(base, services=services, numbers=numbers, keys=keys)

    def _numbers(self, client: Client) -> Iterator[PhoneNumber]:
        for number in client.incoming_phone_numbers.stream(page_size=PAGE_SIZE):
            capabilities = number.capabilities or {}
            yield PhoneNumber(
                sid=number.sid,
                phone_number=number.phone_number,
                friendly_name=number.friendly_name or "",
                sms_capable=bool(capabilities.get("sms")),
                sms_url=number.sms_url or None,
                sms_fallback_url=number.sms_fallback_url or None,
                status_callback=number.status_callback or None,
                sms_method=(number.sms_method or "POST").upper(),
                sms_fallback_method=(number.sms_fallback_method or "POST").upper(),
            )

    def _services(self, client: Client) -> tuple[dict[str, tuple[Sender, ...]], list[Any]]:
        services = list(client.messaging.v1.services.stream(page_size=PAGE_SIZE))
        senders: dict[str, tuple[Sender, ...]] = {}
        for service in services:
            pool = client.messaging.v1.services(service.sid)
            senders[service.sid] = (
                *(
                    Sender(n.sid, "phone_number", n.phone_number)
                    for n in pool.phone_numbers.stream(page_size=PAGE_SIZE)
                ),
                *(
                    Sender(c.sid, "short_code", c.short_code)
                    for c in pool.short_codes.stream(page_size=PAGE_SIZE)
                ),
                *(
                    Sender(a.sid, "alpha_sender", a.alpha_sender)
                    for a in pool.alpha_senders.stream(page_size=PAGE_SIZE)
                ),
            )
        return senders, services

    def _keys(self, client: Client, account_sid: str) -> Iterator[ApiKey]:
        iam = client.iam.v1
        for key in iam.get_api_keys.stream(account_sid=account_sid, page_size=PAGE_SIZE):
            flags = key.flags
            # Restricted keys cannot sign access tokens, so they lack the "signing" flag; where
            # Twilio gives no flags the key itself says (its policy).
            if flags is not None and "signing" in flags:
                yield ApiKey(key.sid, key.friendly_name or "", "standard")
                continue
            policy = iam.api_key(key.sid).fetch().policy
            allow = tuple(policy.get("allow", ())) if isinstance(policy, dict) else ()
            kind = "restricted" if policy else "standard"
            yield ApiKey(key.sid, key.friendly_name or "", kind, allow)

    def _traffic_sample(self, client: Client) -> dict[str, Counter[str]]:
        """Use cases per service among the account's newest messages (bodies not kept)."""
        by_service: dict[str, Counter[str]] = {}
        if self.options.traffic_sample <= 0:
            return by_service
        page_size = min(self.options.traffic_sample, PAGE_SIZE)
        for message in client.messages.stream(
            limit=self.options.traffic_sample, page_size=page_size
        ):
            use_case = traffic.classify(message.body)
            if message.messaging_service_sid and use_case:
                by_service.setdefault(message.messaging_service_sid, Counter())[use_case] += 1
        return by_service

    def _parent_traffic(self, client: Client, since: datetime) -> ParentTraffic:
        parent_sid = self.credentials.account_sid
        records = client.api.v2010.accounts(parent_sid).usage.records.list(
            category="sms-outbound",
            start_date=since.date(),
            end_date=datetime.now(UTC).date(),
            include_subaccounts=False,
        )
        messages = sum(int(r.count or 0) for r in records)
        price = sum(abs(float(r.price or 0)) for r in records)
        by_sender: Counter[str] = Counter()
        scanned = 0
        sent_at: list[datetime] = []
        if messages and self.options.parent_scan > 0:  # the client reads limit=0 as "all"
            for message in client.messages.stream(
                date_sent_after=since, limit=self.options.parent_scan, page_size=PAGE_SIZE
            ):
                scanned += 1
                stamp = message.date_sent or message.date_created
                if stamp is not None:
                    sent_at = [min([stamp, *sent_at[:1]]), max([stamp, *sent_at[1:]])]
                sender = message.from_ or "(not yet sent)"
                via = message.messaging_service_sid
                by_sender[f"{sender} via {via}" if via else sender] += 1
        return ParentTraffic(
            days=self.options.days,
            messages=messages,
            price=round(price, 5),
            by_sender=dict(by_sender),
            scanned=scanned,
            truncated=scanned >= self.options.parent_scan and messages > scanned,
            first_sent=sent_at[0].isoformat() if sent_at else None,
            last_sent=sent_at[1].isoformat() if sent_at else None,
        )


def _replace(account: Account, **changes: Any) -> Account:
    return replace(account, **changes)


def _why(error: Exception) -> str:
    """One line on why an account could not be read, without request details."""
    if isinstance(error, TwilioRestException):
        return f"Twilio answered {error.status} (code {error.code}): {error.msg}"
    response = error.args[1] if len(error.args) > 1 else None
    status = getattr(response, "status_code", None)
    return f"Twilio answered {status} to a list request" if status else str(error)


def read_estate(credentials: ParentCredentials, options: ReadOptions | None = None) -> Estate:
    """The whole account as plain records (see module doc)."""
    return AccountReader(credentials, options or ReadOptions()).read()
