"""v2010 Usage Records, computed from the messages the emulator has sent.

Categories: `sms` (all SMS), `sms-outbound`, `sms-inbound` (always zero: no inbound traffic is
emulated) and `totalprice`. A message counts once it has been sent (it has a price). On a parent
account, IncludeSubaccounts (default true) adds the subaccounts' usage, as Twilio does.
"""

from __future__ import annotations

import bisect
import calendar
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from emulator.api_accounts import is_main
from emulator.runtime import Call, Endpoint, Operation, Reply
from emulator.wire import PageRequest, bad_request, page_request, v2010_page

DAY = 86400
MAX_BUCKETS = 3700

CATEGORIES = {
    "sms": "SMS Messages",
    "sms-outbound": "Outbound SMS Messages",
    "sms-inbound": "Inbound SMS Messages",
    "totalprice": "Total Price",
}
_SUBRESOURCES = {
    "all_time": "AllTime",
    "daily": "Daily",
    "last_month": "LastMonth",
    "monthly": "Monthly",
    "this_month": "ThisMonth",
    "today": "Today",
    "yearly": "Yearly",
    "yesterday": "Yesterday",
}


@dataclass(frozen=True)
class Totals:
    messages: int
    segments: int
    price: float


def _today() -> int:
    stamp = int(time.time())
    return stamp - stamp % DAY


def _month_start(day: int, months_back: int = 0) -> int:
    t = time.gmtime(day)
    year, month = t.tm_year, t.tm_mon - months_back
    while month < 1:
        month += 12
        year -= 1
    return calendar.timegm((year, month, 1, 0, 0, 0))


def _parse_date(value: str, name: str) -> int:
    text = value.strip().lower()
    today = _today()
    relative = re.fullmatch(r"([+-]\d{1,4})days", text)
    if relative:
        return today + int(relative.group(1)) * DAY
    if text == "today":
        return today
    if text == "yesterday":
        return today - DAY
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%d"))
    except (ValueError, OverflowError) as exc:
        raise bad_request(20001, f"{name} must be a date (YYYY-MM-DD)") from exc


def _iso_day(day: int) -> str:
    t = time.gmtime(day)  # not strftime: glibc would print year 1 as "1", not "0001"
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"


# Each sub-list: default (start, end) days given today and the account's first day.
_RANGES: dict[str, Callable[[int, int], tuple[int, int]]] = {
    "Records": lambda today, first: (first, today),
    "AllTime": lambda today, first: (first, today),
    "Daily": lambda today, first: (today - 30 * DAY, today),
    "Monthly": lambda today, first: (_month_start(today, 11), today),
    "Yearly": lambda today, first: (
        calendar.timegm((time.gmtime(first).tm_year, 1, 1, 0, 0, 0)),
        today,
    ),
    "Today": lambda today, first: (today, today),
    "Yesterday": lambda today, first: (today - DAY, today - DAY),
    "ThisMonth": lambda today, first: (_month_start(today), today),
    "LastMonth": lambda today, first: (_month_start(today, 1), _month_start(today) - DAY),
}


def _buckets(kind: str, start: int, end: int) -> list[tuple[int, int]]:
    """Inclusive (first day, last day) periods for Daily/Monthly/Yearly, else one period."""
    if kind not in ("Daily", "Monthly", "Yearly"):
        return [(start, end)]
    periods: list[tuple[int, int]] = []
    cursor = start
    while cursor <= end and len(periods) < MAX_BUCKETS:
        t = time.gmtime(cursor)
        if kind == "Daily":
            last = cursor
        elif kind == "Monthly":
            last = _month_start(calendar.timegm((t.tm_year, t.tm_mon, 28, 0, 0, 0)) + 5 * DAY) - DAY
        else:
            last = calendar.timegm((t.tm_year, 12, 31, 0, 0, 0))
        periods.append((cursor, min(last, end)))
        cursor = last + DAY
    return periods


def _period_totals(
    call: Call, account_sids: list[str], periods: list[tuple[int, int]]
) -> list[Totals]:
    """Totals per period, from one query grouped by day of sending."""
    placeholders = ", ".join("?" * len(account_sids))
    rows = call.store.aggregate(
        "SELECT CAST(json_extract(doc, '$.date_sent') / 86400 AS INTEGER) * 86400 AS day,"
        " COUNT(*),"
        " COALESCE(SUM(CAST(json_extract(doc, '$.num_segments') AS INTEGER)), 0),"
        " COALESCE(SUM(ABS(CAST(json_extract(doc, '$.price') AS REAL))), 0)"
        f" FROM resources WHERE kind = 'message' AND account_sid IN ({placeholders})"
        " AND json_extract(doc, '$.price') IS NOT NULL"
        " AND json_extract(doc, '$.date_sent') BETWEEN ? AND ? GROUP BY day",
        [*account_sids, periods[0][0], periods[-1][1] + DAY - 1],
    )
    starts = [start for start, _ in periods]
    sums = [[0, 0, 0.0] for _ in periods]
    for day, messages, segments, price in rows:
        index = bisect.bisect_right(starts, day) - 1
        if index >= 0:
            sums[index][0] += messages
            sums[index][1] += segments
            sums[index][2] += price
    return [Totals(int(m), int(s), round(float(p), 5)) for m, s, p in sums]


def _record(
    account_sid: str, category: str, start: int, end: int, totals: Totals
) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{account_sid}/Usage/Records"
    outbound = category != "sms-inbound"
    count = totals.messages if outbound else 0
    segments = totals.segments if outbound else 0
    price = totals.price if outbound else 0.0
    is_price = category == "totalprice"
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "as_of": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "category": category,
        "count": None if is_price else str(count),
        "count_unit": "" if is_price else "messages",
        "description": CATEGORIES[category],
        "end_date": _iso_day(end),
        "price": price,
        "price_unit": "usd",
        "start_date": _iso_day(start),
        "subresource_uris": {
            key: f"{base}/{path}.json?Category={category}" for key, path in _SUBRESOURCES.items()
        },
        "uri": f"{base}.json?"
        + urlencode({"Category": category, "StartDate": _iso_day(start), "EndDate": _iso_day(end)}),
        "usage": f"{price:.5f}" if is_price else str(segments),
        "usage_unit": "usd" if is_price else "segments",
    }


def _list(kind: str) -> Callable[[Call], Reply]:
    def handler(call: Call) -> Reply:
        account = call.account
        assert account is not None
        params = call.params
        category = params.text("Category")
        include_subaccounts = params.boolean("IncludeSubaccounts")
        today = _today()
        first_day = account.date_created - account.date_created % DAY
        start, end = _RANGES[kind](today, first_day)
        start_param, end_param = params.text("StartDate"), params.text("EndDate")
        if start_param:
            start = _parse_date(start_param, "StartDate")
        if end_param:
            end = _parse_date(end_param, "EndDate")
        if end < start:
            raise bad_request(20001, "EndDate must not be before StartDate")
        request: PageRequest = page_request(params)
        account_sids = [account.sid]
        if is_main(account) and include_subaccounts is not False:
            account_sids = [a.sid for a in call.store.select("account", account_sids=[account.sid])]
        categories = [c for c in CATEGORIES if category in (None, c)]
        records: list[dict[str, Any]] = []
        periods = _buckets(kind, start, end)
        for (period_start, period_end), totals in zip(
            periods, _period_totals(call, account_sids, periods), strict=True
        ):
            records.extend(
                _record(account.sid, c, period_start, period_end, totals) for c in categories
            )
        # Computed lists page by position: PageToken "PA<n>" carries the next start index.
        offset = request.after_seq if request.after_seq is not None else request.offset
        window = records[offset : offset + request.page_size]
        next_offset = (
            offset + request.page_size if offset + request.page_size < len(records) else None
        )
        return 200, v2010_page(
            "usage_records", window, request, call.twilio_path, params.items(), next_offset
        )

    return handler


_BASE = "/api/2010-04-01/Accounts/{AccountSid}/Usage/Records"
_PERMISSION = "/twilio/usage/records/read"

ENDPOINTS = (
    Endpoint(f"{_BASE}.json", (Operation("GET", _list("Records"), _PERMISSION),)),
    *(
        Endpoint(f"{_BASE}/{kind}.json", (Operation("GET", _list(kind), _PERMISSION),))
        for kind in _RANGES
        if kind != "Records"
    ),
)
