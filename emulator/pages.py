"""Paged listing of stored records in either of Twilio's two list envelopes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from emulator.runtime import Call, Reply
from emulator.store import Record, Where
from emulator.wire import PageRequest, page_request, v1_page, v2010_page


@dataclass(frozen=True)
class Page:
    records: list[Record]
    request: PageRequest
    next_seq: int | None  # keyset position for the next page, None on the last page


def list_records(
    call: Call,
    kind: str,
    *,
    account_sids: Sequence[str] | None = None,
    container_sid: str | None = None,
    where: Where = (),
    newest_first: bool = False,
) -> Page:
    request = page_request(call.params)
    rows = call.store.select(
        kind,
        account_sids=account_sids,
        container_sid=container_sid,
        where=where,
        newest_first=newest_first,
        after_seq=request.after_seq,
        offset=request.offset,
        limit=request.page_size + 1,
    )
    next_seq = rows[request.page_size - 1].seq if len(rows) > request.page_size else None
    visible = [row for row in rows[: request.page_size] if call.emulator.visible(row)]
    return Page(visible, request, next_seq)


def v2010_list(call: Call, key: str, page: Page, render: Callable[[Record], Any]) -> Reply:
    items = [render(record) for record in page.records]
    return 200, v2010_page(
        key, items, page.request, call.twilio_path, call.params.items(), page.next_seq
    )


def v1_list(call: Call, key: str, page: Page, render: Callable[[Record], Any]) -> Reply:
    items = [render(record) for record in page.records]
    url = call.absolute(call.twilio_path)
    return 200, v1_page(key, items, page.request, url, call.params.items(), page.next_seq)


def own_account_sid(call: Call) -> str:
    """The account a v2010 path names (`/Accounts/{AccountSid}`), as authentication found it."""
    assert call.account is not None
    return call.account.sid


def v2010_account_list(
    call: Call, kind: str, key: str, render: Callable[[Record], Any], where: Where = ()
) -> Reply:
    """One page of the path's account's records of `kind`, in the v2010 envelope under `key`."""
    page = list_records(call, kind, account_sids=[own_account_sid(call)], where=where)
    return v2010_list(call, key, page, render)
