"""The HTML dashboard in headless Chromium (Debian's package, driven by Playwright): clicking a
filter changes the numbers shown to those of the filtered view."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from collector.app import CollectorConfig
from collector.signatures import StaticTokenSource
from collector.storage.database import create_database_engine
from collector.storage.migrations import migrate
from collector.storage.writer import store_events
from collector.usage import Spend, StaticUsageSource
from tests.collector.support import (
    OTHER_SERVICE_SID,
    OTHER_SUB_SID,
    SUB_SID,
    RunningCollector,
    event,
    message_sid,
    running_collector,
)

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAY = 1_764_201_600.0  # 2025-11-27


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium that setup provided (scripts/install-chromium); never a Playwright download."""
    linked = REPO_ROOT / ".bin" / "chromium"
    if not linked.exists():
        pytest.fail(
            "Chromium is missing: install Debian's 'chromium' package or set TLZ_CHROMIUM to a "
            "Chromium binary, then run 'make setup' again.",
            pytrace=False,
        )
    return str(linked.resolve())


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def collector(sqlite_url: str) -> Iterator[RunningCollector]:
    migrate(sqlite_url)
    engine = create_database_engine(sqlite_url)
    events = []
    # SUB: 3 delivered + 1 undelivered via service 1; OTHER: 2 delivered + 2 failed, no service.
    for outcome in ("delivered", "delivered", "delivered", "undelivered"):
        sid = message_sid()
        events.append(event(SUB_SID, sid, "sent", DAY + 10))
        events.append(
            event(
                SUB_SID,
                sid,
                outcome,
                DAY + 12,
                error_code="30005" if outcome != "delivered" else None,
            )
        )
    for outcome in ("delivered", "delivered", "failed", "failed"):
        sid = message_sid()
        code = "30008" if outcome == "failed" else None
        events.append(
            event(OTHER_SUB_SID, sid, outcome, DAY + 20, service=OTHER_SERVICE_SID, error_code=code)
        )
    with engine.begin() as connection:
        store_events(connection, events)
    engine.dispose()
    usage = StaticUsageSource([Spend(SUB_SID, "2025-11-27", Decimal("0.0316"), "USD")])
    config = CollectorConfig(
        database_url=sqlite_url, token_source=StaticTokenSource({}), usage_source=usage
    )
    with running_collector(config) as running:
        yield running


def _tile(page: Page, metric: str) -> str:
    return page.locator(f'[data-metric="{metric}"] .value').inner_text()


def _cell(page: Page, key: str, column: str) -> str:
    return page.locator(f'tr[data-key="{key}"] td[data-column="{column}"]').inner_text()


def test_clicking_a_subaccount_filter_shows_that_subaccounts_numbers(
    browser: Browser, collector: RunningCollector, tmp_path
):
    page = browser.new_page()
    page.goto(collector.base_url + "/")
    assert page.url.endswith("/dashboard")
    assert (_tile(page, "messages"), _tile(page, "delivered"), _tile(page, "failed")) == (
        "8",
        "5",
        "2",
    )
    assert _tile(page, "delivery_rate") == "62.5%"
    assert _tile(page, "spend") == "0.0316 USD"
    assert _cell(page, SUB_SID, "delivered") == "3" and _cell(page, OTHER_SUB_SID, "failed") == "2"
    assert page.locator('[data-chart="outcomes"] rect').count() == 4

    page.click(f'a[data-filter="account"][data-value="{OTHER_SUB_SID}"]')
    page.wait_for_url(f"**account={OTHER_SUB_SID}**")
    assert (_tile(page, "messages"), _tile(page, "delivered"), _tile(page, "failed")) == (
        "4",
        "2",
        "2",
    )
    assert _tile(page, "delivery_rate") == "50.0%"
    assert page.locator("tbody tr").count() == 2  # the subaccount's row and the total
    assert (
        page.locator(f'a.active[data-filter="account"][data-value="{OTHER_SUB_SID}"]').count() == 1
    )

    # Switching the grouping keeps the filter: the subaccount's services.
    page.click('a[data-group="service"]')
    page.wait_for_url("**by=service**")
    assert _cell(page, OTHER_SERVICE_SID, "messages") == "4"
    assert _cell(page, OTHER_SERVICE_SID, "top_errors") == "30008x2"
    delivered_bar = page.locator('[data-chart="outcomes"] rect[data-series="delivered"]')
    assert delivered_bar.get_attribute("data-count") == "2"
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    page.click('a[data-filter="account"][data-value=""]')
    page.wait_for_url("**by=service**")
    assert _tile(page, "messages") == "8"
    page.close()


def test_an_empty_view_says_so(browser: Browser, collector: RunningCollector):
    page = browser.new_page()
    page.goto(collector.base_url + "/dashboard?day=2001-01-01")
    assert page.locator('[data-empty="true"]').is_visible()
    assert _tile(page, "messages") == "0"
    page.close()
