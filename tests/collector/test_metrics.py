"""`GET /metrics`: parsed with Prometheus's own text-format parser; counts, names as labels,
bounded cardinality at 3,000 tenants, counters that never go down, and the Grafana dashboard
asking only for metrics the endpoint exports."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.app import CollectorConfig
from collector.metrics import MetricsExporter, Snapshot, StoreLatency
from collector.names import NameEntry, NameMap
from collector.signatures import StaticTokenSource
from tests.collector.support import (
    OTHER_SUB_SID,
    PARENT_SID,
    PARENT_TOKEN,
    SERVICE_SID,
    SUB_SID,
    SUB_TOKEN,
    callback_params,
    message_sid,
    running_collector,
)

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "collector" / "grafana" / "delivery.json"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def names_file(tmp_path: Path) -> Path:
    path = tmp_path / "names.json"
    entries = {
        SUB_SID: {
            "kind": "subaccount",
            "tenant": "bayside-dental",
            "display_name": "Bayside Dental",
            "environment": "production",
            "logical_name": "bayside-dental",
        },
        SERVICE_SID: {
            "kind": "service",
            "tenant": "bayside-dental",
            "use_case": "notifications",
            "logical_name": "bayside-dental-notifications",
        },
    }
    path.write_text(json.dumps({"tenants": {}, "names": entries}))
    return path


def test_metrics_count_callbacks_and_label_outcomes_with_the_stacks_names(
    sqlite_url: str, tmp_path: Path
):
    tokens = StaticTokenSource({PARENT_SID: PARENT_TOKEN, SUB_SID: SUB_TOKEN})
    config = CollectorConfig(
        database_url=sqlite_url, token_source=tokens, names_files=(names_file(tmp_path),)
    )
    with running_collector(config) as collector:
        for status, code in [("delivered", None)] * 3 + [("undelivered", "30003")]:
            sid = message_sid()
            collector.post(callback_params(SUB_SID, sid, "sent"), SUB_TOKEN)
            params = callback_params(SUB_SID, sid, status, error_code=code)
            assert collector.post(params, SUB_TOKEN).status_code == 200
        no_service = callback_params(SUB_SID, message_sid(), "failed", service=None)
        assert collector.post(no_service, SUB_TOKEN).status_code == 200
        assert (
            collector.post(callback_params(SUB_SID, message_sid(), "sent"), "x").status_code == 403
        )
        stranger = callback_params(OTHER_SUB_SID, message_sid(), "sent")
        assert collector.post(stranger, SUB_TOKEN).status_code == 403
        answer = httpx.get(collector.base_url + "/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)
    assert found[("tlz_collector_callbacks_received_total", ())] == 11
    assert found[("tlz_collector_callbacks_stored_total", ())] == 9
    refused = "tlz_collector_callbacks_refused_total"
    assert found[(refused, (("reason", "forged"),))] == 1
    assert found[(refused, (("reason", "unknown_account"),))] == 1

    def messages(use_case: str, status: str, code: str = "") -> float:
        labels = {"tenant": "bayside-dental", "use_case": use_case, "status": status}
        labels["error_code"] = code
        return found.get(("tlz_collector_messages_total", tuple(sorted(labels.items()))), 0)

    assert messages("notifications", "delivered") == 3
    assert messages("notifications", "undelivered", "30003") == 1
    assert messages("none", "failed") == 1  # sent without a service
    # `sent` is not a final status: not a message outcome.
    assert not any(
        n == "tlz_collector_messages_total" and ("status", "sent") in labels for n, labels in found
    )
    assert found[("tlz_collector_store_seconds_count", ())] == 9
    assert found[("tlz_collector_store_seconds_bucket", (("le", "+Inf"),))] == 9
    assert found[("tlz_collector_known_accounts", ())] == 2
    # The token's first read, and one re-read after the forged signature (a rotation?).
    assert found[("tlz_collector_twilio_requests_total", (("call", "account_fetch"),))] == 2
    assert found[("tlz_collector_twilio_requests_total", (("call", "account_list"),))] == 1


def _synthetic_tally(tenants: int, draw: random.Random) -> dict:
    """Final-status callbacks of `tenants` accounts with 2 use cases each and many codes."""
    codes = [str(30000 + n) for n in range(40)]
    tally = {}
    for index in range(tenants):
        account = f"AC{index:032x}"
        weight = 1 + int(1000 / (index + 1))  # a few busy tenants, a long tail
        for use_case in range(2):
            service = f"MG{index:030x}{use_case:02x}"
            tally[(account, service, "delivered", "")] = weight * 20
            for code in draw.sample(codes, 6):
                status = draw.choice(["undelivered", "failed"])
                tally[(account, service, status, code)] = draw.randint(1, weight + 1)
    return tally


def _names_for(tenants: int) -> NameMap:
    entries = {}
    for index in range(tenants):
        entries[f"AC{index:032x}"] = NameEntry(kind="subaccount", tenant=f"tenant-{index:04d}")
        for use_case, name in enumerate(("notifications", "marketing")):
            entries[f"MG{index:030x}{use_case:02x}"] = NameEntry(
                kind="service", tenant=f"tenant-{index:04d}", use_case=name
            )
    return NameMap(entries)


def _snapshot(tally: dict) -> Snapshot:
    return Snapshot(Counter({200: 1}), Counter(), tally, StoreLatency(), 3000, {})


def test_at_3000_tenants_the_endpoint_stays_under_10000_series_and_keeps_the_busiest():
    draw = random.Random(14)
    names = _names_for(3000)
    exporter = MetricsExporter(lambda: names)
    tally = _synthetic_tally(3000, draw)
    text = exporter.render(_snapshot(tally)).decode()
    found = samples(text)
    assert len(found) < 10_000, len(found)
    tenants = {dict(labels).get("tenant") for name, labels in found if "messages" in name}
    assert "other" in tenants
    # The busiest tenants (lowest index here) carry their own label.
    assert {f"tenant-{index:04d}" for index in range(20)} <= tenants
    assert len(tenants) - 1 <= exporter.labels.top_tenants
    # Nothing is lost: labelled and `other` series add up to every final callback.
    total = sum(v for (n, _), v in found.items() if n == "tlz_collector_messages_total")
    assert total == sum(tally.values())


def test_series_never_go_down_when_tenants_move_in_and_out_of_the_top():
    names = _names_for(30)
    exporter = MetricsExporter(lambda: names, top_tenants=5, rebalance_s=0)
    tally: dict = {}
    previous: dict = {}
    draw = random.Random(5)
    for _ in range(12):
        # Traffic shifts: a different handful of tenants is busiest each time.
        busy = draw.sample(range(30), 5)
        for index in range(30):
            key = (f"AC{index:032x}", f"MG{index:030x}00", "delivered", "")
            tally[key] = tally.get(key, 0) + (50 if index in busy else 1)
        found = samples(exporter.render(_snapshot(dict(tally))).decode())
        series = {k: v for k, v in found.items() if k[0] == "tlz_collector_messages_total"}
        assert sum(series.values()) == sum(tally.values())
        for key, value in series.items():
            assert value >= previous.get(key, 0), key  # a counter only ever grows
        previous = series
        labelled = {dict(labels)["tenant"] for _, labels in series} - {"other"}
        assert labelled == {f"tenant-{index:04d}" for index in busy}


def test_the_grafana_dashboard_asks_only_for_exported_metrics(sqlite_url: str, tmp_path: Path):
    dashboard = json.loads(GRAFANA.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [
        variable["definition"]
        for variable in dashboard["templating"]["list"]
        if variable.get("definition")
    ]
    assert len(queries) >= 8
    tokens = StaticTokenSource({SUB_SID: SUB_TOKEN})
    config = CollectorConfig(database_url=sqlite_url, token_source=tokens)
    with running_collector(config) as collector:
        sid = message_sid()
        collector.post(callback_params(SUB_SID, sid, "undelivered", error_code="30003"), SUB_TOKEN)
        collector.post(callback_params(SUB_SID, message_sid(), "sent"), "forged")
        exported = {name for name, _ in samples(httpx.get(collector.base_url + "/metrics").text)}
    for query in queries:
        referenced = set(re.findall(r"\btlz_collector_[a-z_]+\b", query))
        assert referenced, f"no collector metric in {query!r}"
        missing = referenced - exported
        assert not missing, f"{query!r} asks for {missing}, not exported"


@pytest.mark.parametrize("top_tenants", [1, 500])
def test_every_final_callback_is_counted_once_whatever_n(top_tenants: int):
    names = _names_for(10)
    exporter = MetricsExporter(lambda: names, top_tenants=top_tenants)
    tally = _synthetic_tally(10, random.Random(1))
    found = samples(exporter.render(_snapshot(tally)).decode())
    total = sum(v for (n, _), v in found.items() if n == "tlz_collector_messages_total")
    assert total == sum(tally.values())
