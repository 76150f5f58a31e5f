"""Reports per subaccount, service, sender and day, in every format, on both backends."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from collector.reports import ReportFilter, build_report, percentile, render
from collector.storage.database import create_database_engine
from collector.storage.migrations import migrate
from collector.storage.writer import store_events
from collector.usage import Spend, StaticUsageSource, UsageError
from tests.collector.support import (
    OTHER_SERVICE_SID,
    OTHER_SUB_SID,
    SERVICE_SID,
    SUB_SID,
    event,
    message_sid,
)

DAY1 = 1_764_201_600.0  # 2025-11-27T00:00:00Z
DAY2 = DAY1 + 86_400
A, B = "+14155550100", "+14155550111"


def _lifecycle(sid_account: str, at: float, outcome: str, seconds: float, **kw):
    sid = message_sid()
    events = [
        event(sid_account, sid, "sending", at, **kw),
        event(sid_account, sid, "sent", at + 0.1, **kw),
    ]
    if outcome == "delivered":
        events.append(event(sid_account, sid, "delivered", at + seconds, **kw))
    elif outcome == "undelivered":
        events.append(
            event(sid_account, sid, "undelivered", at + seconds, error_code="30003", **kw)
        )
    elif outcome == "failed":
        events = [event(sid_account, sid, "failed", at, error_code="30008", **kw)]
    return events


@pytest.fixture
def engine(database_url: str):
    migrate(database_url)
    engine = create_database_engine(database_url)
    events = []
    # SUB, service 1, sender A, day 1: 4 delivered (1 s, 2 s, 3 s, 10 s), 1 undelivered, 1 failed.
    for seconds in (1.0, 2.0, 3.0, 10.0):
        events += _lifecycle(SUB_SID, DAY1 + 60, "delivered", seconds, sender=A)
    events += _lifecycle(SUB_SID, DAY1 + 120, "undelivered", 5, sender=A)
    events += _lifecycle(SUB_SID, DAY1 + 180, "failed", 0, sender=A)
    # SUB, service 2, sender B, day 2: 1 delivered (4 s), 1 still in flight (sent).
    events += _lifecycle(SUB_SID, DAY2 + 60, "delivered", 4.0, sender=B, service=OTHER_SERVICE_SID)
    events += _lifecycle(SUB_SID, DAY2 + 90, "in flight", 0, sender=B, service=OTHER_SERVICE_SID)
    # OTHER_SUB, no service, day 2: 2 undelivered.
    for _ in range(2):
        events += _lifecycle(OTHER_SUB_SID, DAY2 + 30, "undelivered", 6, sender=B, service=None)
    with engine.begin() as connection:
        store_events(connection, events)
    yield engine
    engine.dispose()


def _rows(report) -> dict:
    return {row.key: row for row in report.rows}


def test_counts_rates_errors_and_times_per_subaccount(engine: Engine):
    report = build_report(engine, "account")
    sub, other = _rows(report)[SUB_SID], _rows(report)[OTHER_SUB_SID]
    assert (sub.messages, sub.sent, sub.delivered, sub.undelivered, sub.failed) == (8, 7, 5, 1, 1)
    assert sub.delivery_rate == round(5 / 7, 4)
    assert sub.top_errors == [("30003", 1), ("30008", 1)]
    # Times to delivered 1, 2, 3, 4, 10 s (from each message's first callback).
    assert (sub.delivered_p50_s, sub.delivered_p95_s) == (3.0, 10.0)
    assert (other.messages, other.undelivered, other.delivery_rate) == (2, 2, 0.0)
    assert other.top_errors == [("30003", 2)]
    assert (other.delivered_p50_s, other.delivered_p95_s) == (None, None)
    total = report.total
    assert (total.messages, total.delivered, total.undelivered, total.failed) == (10, 5, 3, 1)
    assert total.top_errors == [("30003", 3), ("30008", 1)]


def test_groupings_by_service_sender_and_day(engine: Engine):
    by_service = _rows(build_report(engine, "service"))
    assert {k: r.messages for k, r in by_service.items()} == {
        SERVICE_SID: 6,
        OTHER_SERVICE_SID: 2,
        "(none)": 2,
    }
    by_sender = _rows(build_report(engine, "sender"))
    assert {k: (r.messages, r.delivered) for k, r in by_sender.items()} == {A: (6, 4), B: (4, 1)}
    by_day = _rows(build_report(engine, "day"))
    assert {k: r.messages for k, r in by_day.items()} == {"2025-11-27": 6, "2025-11-28": 4}


def test_filters_narrow_every_number(engine: Engine):
    report = build_report(engine, "service", ReportFilter(account_sid=SUB_SID, day="2025-11-28"))
    [row] = report.rows
    assert (row.key, row.messages, row.delivered, row.sent) == (OTHER_SERVICE_SID, 2, 1, 2)
    assert report.total.messages == 2
    only_sender = build_report(engine, "account", ReportFilter(sender=B))
    assert {r.key: r.messages for r in only_sender.rows} == {SUB_SID: 2, OTHER_SUB_SID: 2}


def test_spend_per_account_and_day_from_usage_records(engine: Engine):
    usage = StaticUsageSource(
        [
            Spend(SUB_SID, "2025-11-27", Decimal("0.0474"), "USD"),
            Spend(SUB_SID, "2025-11-28", Decimal("0.0158"), "USD"),
            Spend(OTHER_SUB_SID, "2025-11-28", Decimal("0.0158"), "USD"),
            Spend(OTHER_SUB_SID, "2025-11-27", Decimal("9.99"), "USD"),  # no messages that day
        ]
    )
    by_account = build_report(engine, "account", usage=usage)
    assert {r.key: r.spend for r in by_account.rows} == {SUB_SID: "0.0632", OTHER_SUB_SID: "0.0158"}
    assert (by_account.total.spend, by_account.total.spend_unit) == ("0.0790", "USD")
    by_day = build_report(engine, "day", usage=usage)
    assert {r.key: r.spend for r in by_day.rows} == {"2025-11-27": "0.0474", "2025-11-28": "0.0316"}
    by_service = build_report(engine, "service", usage=usage)
    assert all(r.spend is None for r in by_service.rows)
    assert by_service.total.spend == "0.0790"
    assert "total only" in by_service.spend_note


def test_unavailable_usage_is_reported_not_fatal(engine: Engine):
    class Down:
        def spend(self, *args):
            raise UsageError("Twilio unreachable")

    report = build_report(engine, "account", usage=Down())
    assert report.total.spend is None
    assert report.spend_note == "spend unavailable: Twilio unreachable"


def test_table_json_and_csv_show_the_same_numbers(engine: Engine):
    report = build_report(engine, "account")
    table = render(report, "table")
    lines = table.splitlines()
    # No name map: the key column (the SID) comes first, then the numbers.
    assert lines[0].split()[:7] == [
        "account",
        "SID",
        "messages",
        "sent",
        "delivered",
        "undelivered",
        "failed",
    ]
    sub_line = next(line for line in lines if line.startswith(SUB_SID))
    assert sub_line.split()[1:6] == ["8", "7", "5", "1", "1"]
    assert "71.4%" in sub_line and "30003x1 30008x1" in sub_line
    assert lines[-1].split()[:2] == ["total", "10"]

    data = json.loads(render(report, "json"))
    assert data["by"] == "account"
    assert {r["key"]: r["delivered"] for r in data["rows"]} == {SUB_SID: 5, OTHER_SUB_SID: 0}
    assert data["total"]["top_errors"] == [
        {"code": "30003", "count": 3},
        {"code": "30008", "count": 1},
    ]

    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [r["account"] for r in rows] == [SUB_SID, OTHER_SUB_SID, "total"]
    assert (
        rows[0]["delivery_rate"] == str(round(5 / 7, 4))
        and rows[0]["top_errors"] == "30003:1 30008:1"
    )


def test_an_empty_database_gives_an_empty_report(sqlite_url: str):
    migrate(sqlite_url)
    engine = create_database_engine(sqlite_url)
    report = build_report(engine, "day", usage=StaticUsageSource([]))
    engine.dispose()
    assert report.rows == [] and report.total.messages == 0 and report.total.delivery_rate is None
    assert render(report, "table").splitlines()[-1].split()[:2] == ["total", "0"]


def test_percentiles_are_observed_values():
    assert percentile([], 0.5) is None
    assert percentile([1.0], 0.95) == 1.0
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50.0, 95.0)
