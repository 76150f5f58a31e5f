"""Delivery reports per subaccount, messaging service, sender, day, tenant or use case.

Rows are labelled with what the stack declared (`collector.names`: tenant, display name,
environment, use case, logical name), with the SID a column away; `tenant` and `use_case`
group the subaccounts and services of the name maps (a SID in no map is a row of its own).

Counts come from each message's current (best-ranked) status:
- `sent`: handed to a carrier (`sent` and every carrier outcome after it);
- `delivered` (`read` included), `undelivered`, `failed`;
- `delivery_rate`: delivered / (delivered + undelivered + failed), over messages whose outcome
  is known, so traffic still in flight does not read as failure;
- `top_errors`: the most frequent error codes of the messages' current statuses;
- time to delivered: from the first callback of a message to its delivered callback, by the
  collector's receive times (Twilio's callbacks carry no event time), p50 and p95;
- spend: from the accounts' Usage Records (`collector.usage`); Twilio reports usage per account
  and day, so spend is shown for those groupings and for the total only.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import Engine, func, select

from collector.names import NO_LABEL, Label, NameMap
from collector.statuses import DELIVERED_STATUSES, REACHED_CARRIER_STATUSES
from collector.storage.schema import messages
from collector.storage.writes import day_of
from collector.usage import Spend, UsageError, UsageSource

Grouping = Literal["account", "service", "sender", "day", "tenant", "use_case"]
GROUPINGS: tuple[Grouping, ...] = ("account", "service", "sender", "day", "tenant", "use_case")
FORMATS = ("table", "json", "csv")
TOP_ERRORS = 3
NO_VALUE = "(none)"  # a message sent without a service, or whose sender was never reported

_GROUP_COLUMNS = {
    "account": messages.c.account_sid,
    "service": messages.c.messaging_service_sid,
    "sender": messages.c.sender,
    "day": messages.c.day,
    "tenant": messages.c.account_sid,  # then each SID -> its tenant (names)
    "use_case": messages.c.messaging_service_sid,  # then each SID -> its use case (names)
}
LABEL_FIELDS = ("tenant", "display_name", "environment", "use_case", "name")


@dataclass(frozen=True)
class ReportFilter:
    account_sid: str | None = None
    messaging_service_sid: str | None = None
    sender: str | None = None
    day: str | None = None
    since_us: int | None = None  # messages first seen at or after (microseconds, UTC)

    def active(self) -> dict[str, str]:
        return {name: str(value) for name, value in asdict(self).items() if value}


@dataclass
class ReportRow:
    key: str
    label: Label = NO_LABEL
    messages: int = 0
    sent: int = 0
    delivered: int = 0
    undelivered: int = 0
    failed: int = 0
    delivery_rate: float | None = None
    top_errors: list[tuple[str, int]] = field(default_factory=list)
    delivered_p50_s: float | None = None
    delivered_p95_s: float | None = None
    spend: str | None = None  # decimal string, as Twilio reports prices
    spend_unit: str | None = None


@dataclass
class Report:
    by: Grouping
    filters: ReportFilter
    rows: list[ReportRow]
    total: ReportRow
    generated_at: str
    spend_note: str | None = None

    def to_dict(self) -> dict:
        return {
            "by": self.by,
            "filters": self.filters.active(),
            "generated_at": self.generated_at,
            "rows": [_row_dict(row) for row in self.rows],
            "total": _row_dict(self.total),
            "spend_note": self.spend_note,
        }


def _row_dict(row: ReportRow) -> dict:
    data = asdict(row)
    data.pop("label")
    data.update({name: getattr(row.label, name) for name in LABEL_FIELDS})
    data["name_source"] = row.label.source
    data["top_errors"] = [{"code": code, "count": count} for code, count in row.top_errors]
    return data


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile: a value that was actually observed."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _conditions(filters: ReportFilter) -> list:
    conditions = []
    if filters.account_sid:
        conditions.append(messages.c.account_sid == filters.account_sid)
    if filters.messaging_service_sid:
        conditions.append(messages.c.messaging_service_sid == filters.messaging_service_sid)
    if filters.sender:
        conditions.append(messages.c.sender == filters.sender)
    if filters.day:
        conditions.append(messages.c.day == filters.day)
    if filters.since_us is not None:
        conditions.append(messages.c.first_seen_us >= filters.since_us)
        # The same bound by day, which the indexes serve.
        conditions.append(messages.c.day >= day_of(filters.since_us))
    return conditions


def build_report(
    engine: Engine,
    by: Grouping = "account",
    filters: ReportFilter | None = None,
    usage: UsageSource | None = None,
    names: NameMap | None = None,
) -> Report:
    if by not in _GROUP_COLUMNS:
        raise ValueError(f"cannot group by {by!r}: choose one of {', '.join(GROUPINGS)}")
    filters = filters or ReportFilter()
    names = names or NameMap()
    group = _GROUP_COLUMNS[by]
    key_of = _key_function(by, names)
    conditions = _conditions(filters)
    counts_query = (
        select(group, messages.c.status, messages.c.error_code, func.count())
        .where(*conditions)
        .group_by(group, messages.c.status, messages.c.error_code)
    )
    durations_query = select(group, messages.c.delivered_us - messages.c.first_seen_us).where(
        messages.c.delivered_us.is_not(None), *conditions
    )
    accounts_days_query = (
        select(messages.c.account_sid, messages.c.day).where(*conditions).distinct()
    )
    with engine.connect() as connection:
        counts = connection.execute(counts_query).all()
        durations = connection.execute(durations_query).all()
        accounts_days = connection.execute(accounts_days_query).all()

    rows: dict[str, ReportRow] = {}
    errors: dict[str, Counter[str]] = defaultdict(Counter)
    seconds: dict[str, list[float]] = defaultdict(list)
    total = ReportRow(key="total")
    total_errors: Counter[str] = Counter()
    total_seconds: list[float] = []
    for key, status, error_code, count in counts:
        key = key_of(key)
        row = rows.setdefault(key, ReportRow(key=key))
        for target, target_errors in ((row, errors[key]), (total, total_errors)):
            _count(target, status, count)
            if error_code:
                target_errors[error_code] += count
    for key, duration_us in durations:
        value = max(0, duration_us) / 1e6
        seconds[key_of(key)].append(value)
        total_seconds.append(value)
    for key, row in rows.items():
        row.label = names.label(by, key)
        _finish(row, errors[key], seconds[key])
    _finish(total, total_errors, total_seconds)

    report = Report(
        by=by,
        filters=filters,
        rows=sorted(rows.values(), key=_reading_order),
        total=total,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    if usage is not None:
        _add_spend(report, usage, accounts_days, key_of)
    return report


def _reading_order(row: ReportRow) -> tuple[str, str, str]:
    """Named rows by tenant and use case, then the SIDs nobody named."""
    label = row.label
    who = (label.tenant or label.name or "").casefold()
    return (who or "~" + row.key, label.use_case or "", row.key)


def _key_function(by: str, names: NameMap):
    """Row key of a grouped column's value: the value, or for `tenant`/`use_case` the name
    the map gives it (a SID in no map keeps its SID, so nothing drops out of a report)."""
    if by == "tenant":
        return lambda sid: (names.tenant_of(sid) or sid) if sid else NO_VALUE
    if by == "use_case":
        return lambda sid: (names.use_case_of(sid) or sid) if sid else NO_VALUE
    return lambda value: value or NO_VALUE


def _count(row: ReportRow, status: str, count: int) -> None:
    row.messages += count
    if status in REACHED_CARRIER_STATUSES:
        row.sent += count
    if status in DELIVERED_STATUSES:
        row.delivered += count
    elif status == "undelivered":
        row.undelivered += count
    elif status == "failed":
        row.failed += count


def _finish(row: ReportRow, errors: Counter[str], seconds: list[float]) -> None:
    settled = row.delivered + row.undelivered + row.failed
    row.delivery_rate = round(row.delivered / settled, 4) if settled else None
    row.top_errors = sorted(errors.items(), key=lambda item: (-item[1], item[0]))[:TOP_ERRORS]
    seconds.sort()
    p50, p95 = percentile(seconds, 0.50), percentile(seconds, 0.95)
    row.delivered_p50_s = round(p50, 3) if p50 is not None else None
    row.delivered_p95_s = round(p95, 3) if p95 is not None else None


def _add_spend(
    report: Report, usage: UsageSource, accounts_days: Sequence[tuple[str, str]], key_of
) -> None:
    if report.by in ("service", "sender", "use_case"):
        report.spend_note = "Twilio reports usage per account and day: spend is in the total only."
    if not accounts_days:
        return
    accounts = sorted({account for account, _ in accounts_days})
    days = sorted({day for _, day in accounts_days})
    try:
        spend = usage.spend(accounts, days[0], days[-1])
    except UsageError as error:
        report.spend_note = f"spend unavailable: {error}"
        return
    wanted = set(accounts_days)
    per_key: dict[str, list[Spend]] = defaultdict(list)
    everything: list[Spend] = []
    for item in spend:
        # Only the days on which each account has messages in this report.
        if (item.account_sid, item.day) not in wanted:
            continue
        everything.append(item)
        if report.by in ("account", "tenant"):
            per_key[key_of(item.account_sid)].append(item)
        elif report.by == "day":
            per_key[item.day].append(item)
    for row in report.rows:
        if row.key in per_key:
            row.spend, row.spend_unit = _sum(per_key[row.key])
    report.total.spend, report.total.spend_unit = _sum(everything)


def _sum(items: list[Spend]) -> tuple[str | None, str | None]:
    if not items:
        return None, None
    units = {item.unit for item in items}
    unit = units.pop() if len(units) == 1 else "mixed"
    return str(sum((item.amount for item in items), Decimal(0))), unit


# --- rendering ---------------------------------------------------------------------------------

COLUMNS = (
    ("key", "group"),
    ("messages", "messages"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("undelivered", "undelivered"),
    ("failed", "failed"),
    ("delivery_rate", "delivery rate"),
    ("top_errors", "top errors"),
    ("delivered_p50_s", "p50 to delivered (s)"),
    ("delivered_p95_s", "p95 to delivered (s)"),
    ("spend", "spend"),
)


LABEL_TITLES = {
    "tenant": "tenant",
    "display_name": "display name",
    "environment": "environment",
    "use_case": "use case",
    "name": "name",
}
KEY_TITLES = {
    "account": "account SID",
    "service": "service SID",
    "sender": "sender",
    "day": "day",
    "tenant": "tenant",
    "use_case": "use case",
}


def label_columns(report: Report) -> list[str]:
    """The label fields worth a column: those some row has, minus the grouping itself."""
    rows = report.rows
    return [
        name
        for name in LABEL_FIELDS
        if name != report.by and any(getattr(row.label, name) for row in rows)
    ]


def cell(row: ReportRow, name: str) -> str:
    if name in LABEL_TITLES:
        return getattr(row.label, name) or "-"
    value = getattr(row, name)
    if name == "delivery_rate":
        return "-" if value is None else f"{value * 100:.1f}%"
    if name == "top_errors":
        return " ".join(f"{code}x{count}" for code, count in value) or "-"
    if name == "spend":
        return "-" if value is None else f"{value} {row.spend_unit or ''}".strip()
    if value is None:
        return "-"
    return str(value)


def render_table(report: Report) -> str:
    labels = label_columns(report)
    columns = [*labels, *(name for name, _ in COLUMNS)]
    headers = [LABEL_TITLES[name] for name in labels] + [title for _, title in COLUMNS]
    headers[len(labels)] = KEY_TITLES[report.by]
    body = [[cell(row, name) for name in columns] for row in [*report.rows, report.total]]
    widths = [max(len(headers[i]), *(len(line[i]) for line in body)) for i in range(len(headers))]
    left = len(labels) + 1  # names and the key read left to right; numbers align right

    def line(values: list[str]) -> str:
        return "  ".join(
            value.ljust(widths[i]) if i < left else value.rjust(widths[i])
            for i, value in enumerate(values)
        ).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(values) for values in body[:-1])
    out.append("  ".join("-" * w for w in widths))
    out.append(line(body[-1]))
    filters = report.filters.active()
    if filters:
        out.append("filters: " + ", ".join(f"{k}={v}" for k, v in filters.items()))
    if report.spend_note:
        out.append(report.spend_note)
    return "\n".join(out) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = ["key", *LABEL_FIELDS, "name_source"]
    names += [name for name, _ in COLUMNS[1:]] + ["spend_unit"]
    writer.writerow([report.by if name == "key" else name for name in names])
    for row in [*report.rows, report.total]:
        values = []
        for name in names:
            if name in LABEL_FIELDS:
                value = getattr(row.label, name)
            elif name == "name_source":
                value = row.label.source
            else:
                value = getattr(row, name)
            if name == "top_errors":
                value = " ".join(f"{code}:{count}" for code, count in value)
            values.append("" if value is None else value)
        writer.writerow(values)
    return buffer.getvalue()


RENDERERS = {"table": render_table, "json": render_json, "csv": render_csv}


def render(report: Report, fmt: str) -> str:
    try:
        return RENDERERS[fmt](report)
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}") from None
