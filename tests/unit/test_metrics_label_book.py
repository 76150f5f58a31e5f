"""The label book of `serve --workers N` (collector.shared_metrics.decide): one rule for every
worker, labels kept once given, N tenants and the series budget, the first 20 error codes."""

from __future__ import annotations

from collector.names import NameEntry, NameMap
from collector.shared_metrics import LabelBook, decide


def _traffic(*accounts: tuple[str, int], codes: tuple[str, ...] = ("",)) -> dict:
    return {
        account: {
            (f"MG{account[2:]}", "undelivered" if code else "delivered", code): count
            for code in codes
        }
        for account, count in accounts
    }


NAMES = NameMap({"ACa": NameEntry(kind="subaccount", tenant="alpha", logical_name="alpha")})


def test_the_busiest_get_the_free_places_and_keep_them():
    book = decide(LabelBook(), _traffic(("ACa", 5), ("ACb", 50), ("ACc", 20)), NAMES, top_tenants=2)
    assert book.accounts == {"ACb", "ACc"}
    # Later traffic makes ACa the busiest: the places are taken, and labels are kept.
    later = decide(book, _traffic(("ACa", 900), ("ACb", 51), ("ACc", 21)), NAMES, top_tenants=2)
    assert later.accounts == {"ACb", "ACc"}
    assert decide(later, {}, NAMES, top_tenants=3).accounts == {"ACb", "ACc"}


def test_a_tenant_whose_series_would_not_fit_stays_other_and_a_smaller_one_may_fit():
    codes = tuple(f"300{n:02d}" for n in range(6))
    traffic = {
        **_traffic(("ACbig", 100), codes=codes),  # 6 series
        **_traffic(("ACsmall", 10)),  # 1 series
    }
    book = decide(LabelBook(), traffic, NAMES, top_tenants=10, series_budget=4)
    assert book.accounts == {"ACsmall"}


def test_the_first_20_error_codes_keep_their_label_busiest_first_then_none():
    first = {f"ACx{n}": {("MG1", "failed", f"30{n:03d}"): 100 - n} for n in range(25)}
    book = decide(LabelBook(), first, NAMES)
    assert book.codes == tuple(f"30{n:03d}" for n in range(20))
    busier = {"ACy": {("MG1", "failed", "39999"): 10_000}}
    assert decide(book, {**first, **busier}, NAMES).codes == book.codes


def test_the_book_survives_its_file():
    book = LabelBook(frozenset({"ACa", "ACb"}), ("30003", "30008"))
    assert LabelBook.from_json(book.to_json()) == book
