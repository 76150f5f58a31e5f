"""The command line as scripts use it: migrate, report, export, wait."""

from __future__ import annotations

import json
from pathlib import Path

from collector.storage.database import create_database_engine
from collector.storage.migrations import LATEST_VERSION, migrate
from collector.storage.schema import schema_migrations
from collector.storage.writer import store_events
from tests.collector.support import (
    SUB_SID,
    collector_cli,
    collector_environment,
    event,
    message_sid,
)

# Points at no emulator: commands without --usage must not need Twilio at all.
ENV = collector_environment("http://127.0.0.1:9")


def _seed(url: str, *statuses: str) -> None:
    migrate(url)
    engine = create_database_engine(url)
    with engine.begin() as connection:
        store_events(
            connection,
            [event(SUB_SID, message_sid(), s, 100.0 + i) for i, s in enumerate(statuses)],
        )
    engine.dispose()


def test_migrate_reports_what_it_applied(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    first = collector_cli(["migrate", "--db", url], ENV)
    assert first.returncode == 0, first.stderr
    assert (
        f"migrations applied: {', '.join(str(v) for v in range(1, LATEST_VERSION + 1))}"
        in first.stdout
    )
    again = collector_cli(["migrate", "--db", url], ENV)
    assert "none (up to date)" in again.stdout


def test_a_database_from_a_newer_collector_is_a_clear_error(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrate(url)
    engine = create_database_engine(url)
    with engine.begin() as connection:
        connection.execute(
            schema_migrations.insert().values(version=999, description="x", applied_at_us=0)
        )
    engine.dispose()
    result = collector_cli(["report", "--db", url], ENV)
    assert result.returncode == 2
    assert "version 999" in result.stderr and "Traceback" not in result.stderr


def test_report_formats_and_database_from_the_environment(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    _seed(url, "delivered", "undelivered", "sent")
    env = {**ENV, "COLLECTOR_DATABASE_URL": url}
    as_json = collector_cli(["report", "--format", "json"], env)
    assert as_json.returncode == 0, as_json.stderr
    total = json.loads(as_json.stdout)["total"]
    assert (total["messages"], total["delivered"], total["undelivered"]) == (3, 1, 1)
    as_csv = collector_cli(["report", "--by", "day", "--format", "csv"], env)
    assert as_csv.stdout.splitlines()[0].startswith(
        "day,tenant,display_name,environment,use_case,name,name_source,messages,sent,delivered"
    )
    table = collector_cli(["report", "--by", "sender"], env)
    assert table.stdout.splitlines()[0].split()[0] == "sender"


def test_export_to_a_file_and_to_stdout(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    _seed(url, "sent", "delivered")
    out = tmp_path / "events.jsonl"
    result = collector_cli(["export", "--format", "jsonl", "--db", url, "-o", str(out)], ENV)
    assert result.returncode == 0 and "exported 2 events" in result.stderr
    assert [
        json.loads(line)["params"]["MessageStatus"] for line in out.read_text().splitlines()
    ] == [
        "sent",
        "delivered",
    ]
    as_csv = collector_cli(["export", "--format", "csv", "--db", url], ENV)
    assert len(as_csv.stdout.splitlines()) == 3


def test_wait_returns_when_messages_settle_and_fails_on_timeout(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    _seed(url, "delivered")
    settled = collector_cli(["wait", "--messages", "1", "--timeout", "5", "--db", url], ENV)
    assert settled.returncode == 0, settled.stderr
    _seed(url, "sent")  # a message still in flight
    pending = collector_cli(["wait", "--messages", "2", "--timeout", "0.5", "--db", url], ENV)
    assert pending.returncode == 1 and "1 in flight" in pending.stderr
