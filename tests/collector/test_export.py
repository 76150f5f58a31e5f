"""`python -m collector export`: the raw archive as JSONL and CSV."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import urlencode

from collector.events import parse_form, status_event_from
from collector.export import export_events
from collector.storage.database import create_database_engine
from collector.storage.migrations import migrate
from collector.storage.writer import store_events
from tests.collector.support import SUB_SID, callback_params, message_sid


def _stored(database_url: str):
    migrate(database_url)
    engine = create_database_engine(database_url)
    first = callback_params(SUB_SID, message_sid(), "sent")
    second = [
        *callback_params(SUB_SID, message_sid(), "read", EventType="READ").items(),
        ("MediaUrl", "https://m/1"),
        ("MediaUrl", "https://m/2"),
        ("Note", 'naïve, "quoted"\nnew line'),
    ]
    events = [
        status_event_from(parse_form(urlencode(first).encode()), received_at_us=1_000_000),
        status_event_from(
            parse_form(urlencode(second).encode()),
            received_at_us=2_000_000,
            idempotency_token="ID1",
        ),
    ]
    with engine.begin() as connection:
        store_events(connection, events)
    return engine, first, second


def test_jsonl_has_one_object_per_event_with_every_parameter(database_url: str):
    engine, first, _ = _stored(database_url)
    out = io.StringIO()
    assert export_events(engine, "jsonl", out) == 2
    engine.dispose()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["params"] == first
    assert records[0]["body"] == urlencode(first)
    assert records[0]["received_at"] == "1970-01-01T00:00:01.000000+00:00"
    assert records[1]["idempotency_token"] == "ID1"
    assert records[1]["params"]["MediaUrl"] == ["https://m/1", "https://m/2"]
    assert records[1]["params"]["Note"] == 'naïve, "quoted"\nnew line'
    assert records[1]["params"]["EventType"] == "READ"


def test_csv_has_a_column_for_every_parameter_name_seen(database_url: str):
    engine, _, _ = _stored(database_url)
    out = io.StringIO()
    assert export_events(engine, "csv", out) == 2
    engine.dispose()
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    header = next(csv.reader(io.StringIO(out.getvalue())))
    assert header[:6] == [
        "id",
        "received_at",
        "idempotency_token",
        "AccountSid",
        "MessageSid",
        "MessageStatus",
    ]
    assert {"EventType", "MediaUrl", "Note"} <= set(header)
    assert rows[0]["MessageStatus"] == "sent" and rows[0]["EventType"] == ""
    assert json.loads(rows[1]["MediaUrl"]) == ["https://m/1", "https://m/2"]
    assert rows[1]["Note"] == 'naïve, "quoted"\nnew line'
