"""v2010 pagination envelope and Usage Records."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import requests
from twilio.rest import Client

from tests.emulator.conftest import Tenant, buy_number
from tests.support.emulator_process import EmulatorProcess


def test_v2010_envelope_and_relative_next_page(tenant: Tenant, emulator: EmulatorProcess) -> None:
    keys = tenant.client.api.v2010.accounts(tenant.sid)
    created = [keys.new_keys.create(friendly_name=f"k{i}").sid for i in range(5)]
    page = keys.keys.page(page_size=2)
    payload = page._payload
    base = f"/2010-04-01/Accounts/{tenant.sid}/Keys.json"
    assert set(payload) == {
        "first_page_uri",
        "end",
        "previous_page_uri",
        "keys",
        "uri",
        "page_size",
        "start",
        "next_page_uri",
        "page",
    }
    assert payload["first_page_uri"] == f"{base}?PageSize=2&Page=0"
    assert (payload["start"], payload["end"], payload["page"]) == (0, 1, 0)
    assert payload["previous_page_uri"] is None
    next_uri = payload["next_page_uri"]
    assert next_uri.startswith(f"{base}?") and not next_uri.startswith("http")
    query = parse_qs(urlsplit(next_uri).query)
    assert query["Page"] == ["1"] and query["PageToken"][0].startswith("PA")
    second = page.next_page()
    assert (
        second._payload["start"] == 2
        and second._payload["previous_page_uri"] == f"{base}?PageSize=2&Page=0"
    )
    assert [k.sid for k in keys.keys.list(page_size=2)] == created
    # Offset paging without a token works too.
    raw = requests.get(
        f"{emulator.url}/api{base}?PageSize=2&Page=2",
        auth=(tenant.sid, tenant.auth_token),
        timeout=5,
    ).json()
    assert [k["sid"] for k in raw["keys"]] == created[4:] and raw["next_page_uri"] is None


def test_filters_survive_into_page_links(parent: Client, make_tenant) -> None:
    for _ in range(3):
        make_tenant("paged-filter")
    page = parent.api.v2010.accounts.page(friendly_name="paged-filter", page_size=1)
    assert "FriendlyName=paged-filter" in page._payload["next_page_uri"]
    assert len(parent.api.v2010.accounts.list(friendly_name="paged-filter", page_size=1)) == 3


def _wait_delivered(client: Client, sids: list[str]) -> None:
    deadline = time.monotonic() + 5
    while any(client.messages(s).fetch().status != "delivered" for s in sids):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_usage_records_count_sent_messages_and_price(parent: Client, tenant: Tenant) -> None:
    number_sid = buy_number(tenant.client)
    phone = tenant.client.incoming_phone_numbers(number_sid).fetch().phone_number
    sids = [
        tenant.client.messages.create(to="+14155550100", from_=phone, body="x" * 200).sid
        for _ in range(3)
    ]
    _wait_delivered(tenant.client, sids)
    records = {r.category: r for r in tenant.client.usage.records.list()}
    assert set(records) == {"sms", "sms-outbound", "sms-inbound", "totalprice"}
    sms = records["sms"]
    assert (sms.count, sms.count_unit, sms.usage, sms.usage_unit) == (
        "3",
        "messages",
        "6",
        "segments",
    )
    assert float(sms.price) == round(6 * 0.0079, 5) and sms.price_unit == "usd"
    assert records["sms-inbound"].count == "0"
    only_sms = tenant.client.usage.records.list(category="sms")
    assert [r.category for r in only_sms] == ["sms"]
    assert [r.count for r in tenant.client.usage.records.today.list(category="sms")] == ["3"]
    assert [r.count for r in tenant.client.usage.records.yesterday.list(category="sms")] == ["0"]
    daily = tenant.client.usage.records.daily.list(category="sms")
    assert len(daily) >= 30 and daily[-1].count == "3"
    # The parent's usage includes its subaccounts unless told otherwise.
    parent_sms = parent.usage.records.list(category="sms")[0]
    assert int(parent_sms.count) >= 3
    own = parent.usage.records.list(category="sms", include_subaccounts=False)[0]
    assert int(own.count) <= int(parent_sms.count) - 3
    for sub_list in ("all_time", "this_month", "last_month", "monthly", "yearly"):
        assert getattr(tenant.client.usage.records, sub_list).list(category="sms")
    today = datetime.now(UTC).date()
    ranged = tenant.client.usage.records.list(category="sms", start_date=today, end_date=today)
    assert (ranged[0].count, ranged[0].start_date, ranged[0].end_date) == ("3", today, today)
    earlier = tenant.client.usage.records.list(
        category="sms", start_date=today - timedelta(days=9), end_date=today - timedelta(days=1)
    )
    assert earlier[0].count == "0"
