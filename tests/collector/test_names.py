"""Names instead of SIDs: the stack's name map in reports (table, JSON, CSV), exports and the
`tenant` / `use_case` groupings; FriendlyNames for accounts in no map; unknown SIDs still
reported; `check` naming the offenders for cron or CI."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from collector.names import NameMapFiles, load_name_map_file, parse_name_map
from collector.reports import build_report, render
from collector.storage.account_names import save_friendly_names
from collector.storage.database import create_database_engine
from collector.storage.migrations import migrate
from collector.storage.writer import store_events
from tests.collector.support import (
    OTHER_SERVICE_SID,
    OTHER_SUB_SID,
    SERVICE_SID,
    SUB_SID,
    collector_cli,
    collector_environment,
    event,
    message_sid,
)

ENV = collector_environment("http://127.0.0.1:9")  # no Twilio: names come from files and the db
STRANGER_SID = "AC" + "f" * 32
NUMBER = "+14155550100"


def _names() -> dict:
    tenant = {
        "tenant": "bayside-dental",
        "display_name": "Bayside Dental",
        "environment": "production",
        "stack": "prod",
    }
    return {
        SUB_SID: {**tenant, "kind": "subaccount", "logical_name": "bayside-dental"},
        SERVICE_SID: {
            **tenant,
            "kind": "service",
            "use_case": "notifications",
            "logical_name": "bayside-dental-notifications",
        },
        "PN" + "1" * 32: {
            **tenant,
            "kind": "phone_number",
            "use_case": "notifications",
            "logical_name": "bayside-dental-notifications-1",
            "phone_number": NUMBER,
        },
    }


@pytest.fixture
def names_path(tmp_path: Path) -> Path:
    path = tmp_path / "prod-outputs.json"
    # As `pulumi stack output --json` writes it: every output, secrets masked.
    path.write_text(json.dumps({"tenants": {}, "api_key_secrets": "[secret]", "names": _names()}))
    return path


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrate(url)
    now = time.time()
    engine = create_database_engine(url)
    with engine.begin() as connection:
        store_events(
            connection,
            [
                *(event(SUB_SID, message_sid(), "delivered", now - 60) for _ in range(8)),
                event(SUB_SID, message_sid(), "undelivered", now - 60, error_code="30003"),
                event(SUB_SID, message_sid(), "failed", now - 60, error_code="30008"),
                # Another account, named only by Twilio's FriendlyName.
                event(
                    OTHER_SUB_SID,
                    message_sid(),
                    "undelivered",
                    now - 30,
                    error_code="30005",
                    service=OTHER_SERVICE_SID,
                ),
                event(
                    OTHER_SUB_SID, message_sid(), "delivered", now - 30, service=OTHER_SERVICE_SID
                ),
                # An account nobody names: it still reports, by its SID.
                event(STRANGER_SID, message_sid(), "delivered", now - 30, service=None),
                # Old traffic, outside a 1h window.
                *(event(SUB_SID, message_sid(), "failed", now - 7200) for _ in range(5)),
            ],
        )
    save_friendly_names(engine, {OTHER_SUB_SID: "Harbor Vets (console)"})
    engine.dispose()
    return url


def test_both_output_shapes_parse_and_a_bad_entry_is_skipped_with_one_line(tmp_path: Path):
    whole, problems = parse_name_map({"tenants": {}, "names": _names()}, "outputs.json")
    only, _ = parse_name_map(_names(), "names.json")
    assert whole == only and problems == []
    broken = {**_names(), "MG" + "9" * 32: {"kind": "queue", "tenant": "x"}}
    entries, problems = parse_name_map(broken, "f.json")
    assert len(entries) == 3
    assert problems == [f"f.json: MG{'9' * 32}.kind: " + problems[0].split(".kind: ")[1]]
    assert "(entry skipped)" in problems[0]
    path = tmp_path / "nonsense.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"nonsense\.json: no 'names' map"):
        load_name_map_file(path)


def test_name_map_files_are_read_again_when_they_change(tmp_path: Path, monkeypatch):
    import collector.names as names_module

    monkeypatch.setattr(names_module, "RECHECK_S", 0)
    path = tmp_path / "late.json"
    files = NameMapFiles([path])
    assert files.current().entries == {}  # not written yet: empty, no error
    path.write_text(json.dumps({"names": _names()}))
    assert files.current().tenant_of(SUB_SID) == "bayside-dental"
    assert files.account_sids() == {SUB_SID}


def test_reports_label_rows_with_the_stacks_names_and_keep_the_sid(url: str, names_path: Path):
    engine = create_database_engine(url)
    files = NameMapFiles([names_path])
    names = files.current().with_friendly_names({OTHER_SUB_SID: "Harbor Vets (console)"})
    by_service = build_report(engine, "service", names=names)
    row = next(r for r in by_service.rows if r.key == SERVICE_SID)
    assert (row.label.tenant, row.label.display_name, row.label.use_case) == (
        "bayside-dental",
        "Bayside Dental",
        "notifications",
    )
    table = render(by_service, "table")
    header, _, named = table.splitlines()[:3]
    assert header.split()[:6] == ["tenant", "display", "name", "environment", "use", "case"]
    assert named.startswith("bayside-dental") and SERVICE_SID in named
    assert named.index("notifications") < named.index(SERVICE_SID)  # the SID a column away

    by_tenant = build_report(engine, "tenant", names=names)
    keys = [r.key for r in by_tenant.rows]
    assert keys == ["bayside-dental", OTHER_SUB_SID, STRANGER_SID]
    assert by_tenant.rows[1].label.name == "Harbor Vets (console)"
    assert by_tenant.rows[1].label.source == "twilio"
    assert by_tenant.rows[2].label.source is None  # unknown SIDs still report

    by_use_case = {r.key: r for r in build_report(engine, "use_case", names=names).rows}
    assert set(by_use_case) == {"notifications", OTHER_SERVICE_SID, "(none)"}
    assert by_use_case["notifications"].messages == 15

    by_sender = build_report(engine, "sender", names=names)
    [sender] = by_sender.rows
    assert sender.key == NUMBER and sender.label.name == "bayside-dental-notifications-1"

    data = json.loads(render(by_service, "json"))
    first = data["rows"][0]
    assert (first["tenant"], first["display_name"], first["name_source"]) == (
        "bayside-dental",
        "Bayside Dental",
        "stack",
    )
    rows = list(csv.DictReader(io.StringIO(render(by_tenant, "csv"))))
    assert [r["display_name"] for r in rows[:1]] == ["Bayside Dental"]
    engine.dispose()


def test_cli_report_and_export_read_the_name_map_and_the_stored_friendly_names(
    url: str, names_path: Path
):
    report = collector_cli(
        ["report", "--by", "tenant", "--db", url, "--names", str(names_path)], ENV
    )
    assert report.returncode == 0, report.stderr
    assert "Bayside Dental" in report.stdout and "Harbor Vets (console)" in report.stdout
    assert STRANGER_SID in report.stdout

    exported = collector_cli(
        ["export", "--format", "jsonl", "--db", url, "--names", str(names_path)], ENV
    )
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    named = next(r for r in records if r["params"]["AccountSid"] == SUB_SID)
    assert named["labels"] == {
        "tenant": "bayside-dental",
        "display_name": "Bayside Dental",
        "environment": "production",
        "use_case": "notifications",
        "sender_name": "bayside-dental-notifications-1",
    }
    as_csv = collector_cli(
        ["export", "--format", "csv", "--db", url],
        {**ENV, "COLLECTOR_NAMES": str(names_path)},
    )
    header = as_csv.stdout.splitlines()[0].split(",")
    assert header[-5:] == ["tenant", "display_name", "environment", "use_case", "sender_name"]


def test_check_names_the_offenders_and_exits_1(url: str, names_path: Path):
    args = ["check", "--min-delivery-rate", "95", "--window", "1h", "--db", url]
    result = collector_cli([*args, "--names", str(names_path)], ENV)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "BELOW tenant bayside-dental (Bayside Dental): 80.0% delivered < 95% over 1h "
        "(8 of 10 settled; undelivered 1, failed 1; top errors 30003x1 30008x1)"
    )
    assert lines[1].startswith(f"BELOW tenant {OTHER_SUB_SID} (Harbor Vets (console)): 50.0%")
    assert lines[-1].startswith("2 of 3 tenant groups below threshold (min 95%, window 1h")

    by_use_case = collector_cli([*args, "--by", "use_case", "--names", str(names_path)], ENV)
    assert by_use_case.returncode == 1
    assert by_use_case.stdout.startswith("BELOW use_case notifications: 80.0% delivered")

    relaxed = collector_cli([*args, "--min-delivery-rate", "40"], ENV)
    assert relaxed.returncode == 0, relaxed.stdout
    assert relaxed.stdout.startswith("all 3 tenant groups at or above threshold")


def test_check_thresholds_from_a_config_file_and_one_line_for_bad_input(
    url: str, names_path: Path, tmp_path: Path
):
    config = tmp_path / "alerts.yaml"
    config.write_text(
        "window: 1h\nby: tenant\nmin_delivery_rate: 95\nmin_messages: 2\n"
        f"thresholds:\n  bayside-dental: 75\n  {OTHER_SUB_SID}: 50\n"
    )
    args = ["check", "--config", str(config), "--db", url, "--names", str(names_path)]
    result = collector_cli([*args, "--format", "json"], ENV)
    assert result.returncode == 0, (
        result.stdout
    )  # each at its own threshold; 1-message SID not judged
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["judged"] == 2

    failing = collector_cli([*args, "--min-messages", "1", "--window", "3h"], ENV)
    assert failing.returncode == 1  # the old failures count in a 3h window
    assert "bayside-dental (Bayside Dental): 53.3% delivered < 75% over 3h" in failing.stdout

    config.write_text("window: 1 fortnight\n")
    bad = collector_cli(["check", "--config", str(config), "--db", url], ENV)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"collector check: {config}: window: Value error, '1 fortnight' is not a window like "
        "90s, 15m, 1h or 7d"
    ]
    config.write_text("min_delivery_rate: 95\nthreshold: {a: 1}\n")
    typo = collector_cli(["check", "--config", str(config), "--db", url], ENV)
    assert typo.returncode == 2 and "threshold: Extra inputs are not permitted" in typo.stderr


def test_the_dashboard_labels_bars_rows_and_filters_with_names(url: str, names_path: Path):
    from collector.dashboard import render_page
    from collector.reports import ReportFilter

    engine = create_database_engine(url)
    names = NameMapFiles([names_path]).current().with_friendly_names({OTHER_SUB_SID: "Harbor"})
    page = render_page(engine, "service", ReportFilter(), None, names)
    engine.dispose()
    # Chart labels read as names; the SID is the tooltip and the table's key column.
    assert f"<title>{SERVICE_SID}</title>Bayside Dental · notifications</text>" in page
    assert f'<td data-column="key">{SERVICE_SID}</td>' in page
    assert '<td data-column="display_name">Bayside Dental</td>' in page
    assert f'data-value="{SUB_SID}" title="{SUB_SID}">Bayside Dental</a>' in page
    assert 'data-group="tenant"' in page and 'data-group="use_case"' in page
