"""Dump the archive: every stored callback with every parameter as received.

JSONL: one object per event: `params` holds the callback's parameters decoded (a repeated name
as a list), `body` the form exactly as it was received. CSV: one column per parameter name seen
in any event, so unknown parameters get columns of their own; a repeated parameter's values are
written as a JSON list.

Each event is also labelled with what the stack declared (`collector.names`): its tenant,
display name and environment (from its account), use case (from its service) and sender's
logical name. JSONL: a `labels` object; CSV: `tenant`, `display_name`, `environment`,
`use_case` and `sender_name` columns after the event's own.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy import Engine, select

from collector.events import parse_form
from collector.names import NameMap
from collector.storage.schema import status_events

EXPORT_FORMATS = ("jsonl", "csv")
# Twilio's usual parameters first, in a reading order; anything else follows alphabetically.
LEADING_PARAMS = (
    "AccountSid",
    "MessageSid",
    "MessageStatus",
    "ErrorCode",
    "MessagingServiceSid",
    "From",
    "To",
    "SmsSid",
    "SmsStatus",
    "ApiVersion",
    "RawDlrDoneDate",
)
_BATCH = 1000
LABEL_COLUMNS = ("tenant", "display_name", "environment", "use_case", "sender_name")


def labels_of(params: dict[str, str | list[str]], names: NameMap) -> dict[str, str | None]:
    def first(name: str) -> str:
        value = params.get(name) or ""
        return value[0] if isinstance(value, list) else value

    account = names.label("account", first("AccountSid"))
    service = names.label("service", first("MessagingServiceSid"))
    sender = names.label("sender", first("From"))
    return {
        "tenant": account.tenant or account.name,
        "display_name": account.display_name,
        "environment": account.environment,
        "use_case": service.use_case,
        "sender_name": sender.name if sender.source == "stack" else None,
    }


def _iso(timestamp_us: int) -> str:
    return datetime.fromtimestamp(timestamp_us / 1e6, UTC).isoformat(timespec="microseconds")


def _params(body: str) -> dict[str, str | list[str]]:
    return parse_form(body.encode("ascii")).as_archive()


def _rows(engine: Engine) -> Iterator[tuple]:
    query = select(
        status_events.c.id,
        status_events.c.received_at_us,
        status_events.c.idempotency_token,
        status_events.c.body,
    ).order_by(status_events.c.id)
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=_BATCH).execute(query)
        yield from result


def export_jsonl(engine: Engine, out: TextIO, names: NameMap | None = None) -> int:
    names = names or NameMap()
    count = 0
    for event_id, received_at_us, idempotency_token, body in _rows(engine):
        params = _params(body)
        record = {
            "id": event_id,
            "received_at": _iso(received_at_us),
            "idempotency_token": idempotency_token,
            "params": params,
            "labels": labels_of(params, names),
            "body": body,
        }
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def export_csv(engine: Engine, out: TextIO, names: NameMap | None = None) -> int:
    names = names or NameMap()
    # Two passes: the columns are every name in any event, known before the first row.
    seen: set[str] = set()
    for *_, body in _rows(engine):
        seen.update(_params(body))
    columns = [name for name in LEADING_PARAMS if name in seen]
    columns += sorted(seen.difference(LEADING_PARAMS))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "received_at", "idempotency_token", *columns, *LABEL_COLUMNS])
    count = 0
    for event_id, received_at_us, idempotency_token, body in _rows(engine):
        values = _params(body)
        row = [event_id, _iso(received_at_us), idempotency_token or ""]
        for name in columns:
            value = values.get(name)
            if isinstance(value, list):
                value = json.dumps(value, ensure_ascii=False)
            row.append("" if value is None else value)
        labels = labels_of(values, names)
        row.extend(labels[name] or "" for name in LABEL_COLUMNS)
        writer.writerow(row)
        count += 1
    return count


def export_events(engine: Engine, fmt: str, out: TextIO, names: NameMap | None = None) -> int:
    if fmt == "jsonl":
        return export_jsonl(engine, out, names)
    if fmt == "csv":
        return export_csv(engine, out, names)
    raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}")
