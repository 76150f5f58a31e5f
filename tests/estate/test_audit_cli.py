"""`python -m estate audit` against the emulator's seeded legacy estate: the findings a
platform team should see, every output format, exit statuses, and proof it wrote nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.defaults import DEV_ACCOUNT_SID
from tests.estate.support import findings_by_rule, run_audit, seeded_emulator, writes
from tests.support.emulator_process import EmulatorProcess

PARENT = "Twilio Landing Zone emulator parent"

# What the legacy estate (emulator/seed.py) must show, by rule and object name.
EXPECTED = {
    ("no-sending-from-parent", "Main messaging"),
    ("no-sending-from-parent", "+14152000000"),
    ("no-sending-from-parent", "+15102000000"),
    ("no-sending-from-parent", "legacy backend"),
    ("parent-sent-messages", PARENT),
    ("one-messaging-service-per-use-case", "Acme reminders"),
    ("isolated-environments", PARENT),  # no staging subaccount
    ("declared-use-case", "Main messaging"),  # undeclared, and mixed by its traffic
    ("declared-use-case", "Bayside promos"),  # marketing that also sends codes
    ("number-in-no-service", "+16462000000"),
    ("number-in-no-service", "+15102000000"),
    ("status-callback-required", "Acme alerts"),  # http://
    ("status-callback-required", "Main messaging"),  # none
    ("status-callback-required", "Dev sandbox"),  # none
    ("https-webhooks", "Acme alerts"),
    ("https-webhooks", "+15102000000"),  # inbound webhook on http://
    ("no-api-key", "test account"),
    ("restricted-api-keys", "acme web"),  # production keys all standard
    ("restricted-api-keys", "acme worker"),
}
FINDINGS = len(EXPECTED) + 1  # 'Main messaging' is both undeclared and mixed


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with seeded_emulator(tmp_path_factory.mktemp("legacy")) as emulator:
        yield emulator


def test_the_legacy_estate_lists_the_expected_findings_and_fails(legacy: EmulatorProcess) -> None:
    before = legacy.stats()
    run = run_audit("--format", "json", emulator_url=legacy.url)
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines()[0] == (
        f"No Twilio credentials configured: using the local Twilio emulator at {legacy.url} "
        f"(development account {DEV_ACCOUNT_SID})."
    )
    document = run.json()
    assert findings_by_rule(document) == EXPECTED
    assert document["read"]["subaccounts"] == 5
    assert document["read"]["closed_subaccounts"] == 1
    assert document["parent_traffic"]["messages"] == 42
    mandatory = {f["rule"] for f in document["findings"] if f["level"] == "mandatory"}
    assert mandatory == {
        "no-sending-from-parent",
        "parent-sent-messages",
        "one-messaging-service-per-use-case",
    }
    for finding in document["findings"]:
        assert finding["object_sid"][:2] in {"AC", "MG", "PN", "SK"}
        assert finding["why"] and finding["fix"] and finding["message"]
    # Read-only, proven: the emulator saw not one write, and every request was a read.
    after = legacy.stats()
    assert writes(after) - writes(before) == 0
    assert all(route.startswith("GET ") for route in after["routes"])


def test_the_table_ends_with_the_summary_by_rule(legacy: EmulatorProcess) -> None:
    run = run_audit(emulator_url=legacy.url)
    assert run.returncode == 1
    summary = run.stdout.splitlines()[-1]
    assert summary.startswith(f"{FINDINGS} findings (6 mandatory, 14 advisory): ")
    assert "no-sending-from-parent 4" in summary and "restricted-api-keys 2" in summary
    assert "mandatory  one-messaging-service-per-use-case  Acme Corp" in run.stdout


def test_sarif_for_code_scanning(legacy: EmulatorProcess, tmp_path: Path) -> None:
    output = tmp_path / "audit.sarif"
    run = run_audit("--format", "sarif", "--output", str(output), emulator_url=legacy.url)
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.splitlines()[-1].startswith(f"{FINDINGS} findings")
    sarif = json.loads(output.read_text())
    [result_run] = sarif["runs"]
    assert len(result_run["results"]) == FINDINGS
    assert {r["level"] for r in result_run["results"]} == {"error", "warning"}


def test_fail_on_chooses_what_fails_the_job(legacy: EmulatorProcess, tmp_path: Path) -> None:
    relaxed = tmp_path / "relaxed.json"
    relaxed.write_text(
        json.dumps(
            {
                rule: {"enforcementLevel": "advisory"}
                for rule in (
                    "no-sending-from-parent",
                    "parent-sent-messages",
                    "one-messaging-service-per-use-case",
                )
            }
        )
    )
    assert run_audit("--config", str(relaxed), emulator_url=legacy.url).returncode == 0
    advisory = run_audit("--config", str(relaxed), "--fail-on", "advisory", emulator_url=legacy.url)
    assert advisory.returncode == 1


def test_bad_input_is_one_line_and_exit_2(legacy: EmulatorProcess, tmp_path: Path) -> None:
    half = run_audit(emulator_url=legacy.url, env={"TWILIO_ACCOUNT_SID": "AC" + "1" * 32})
    assert half.returncode == 2
    assert half.stderr.strip() == (
        "audit: Twilio credentials in the environment lack the auth token: set both "
        "TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN."
    )
    missing = run_audit("--config", str(tmp_path / "nope.json"), emulator_url=legacy.url)
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith(f"audit: {tmp_path / 'nope.json'}: cannot be read")
    unreachable = run_audit(emulator_url="http://127.0.0.1:9")
    assert unreachable.returncode == 2
    assert unreachable.stderr.splitlines()[-1].startswith(
        "audit: cannot reach Twilio at http://127.0.0.1:9"
    )
    assert "Traceback" not in half.stderr + missing.stderr + unreachable.stderr


def test_no_secret_in_any_output(legacy: EmulatorProcess) -> None:
    tokens = [legacy.auth_token] + [
        account.auth_token for account in legacy.client().api.v2010.accounts.list()
    ]
    outputs = [
        run_audit("--format", f, emulator_url=legacy.url) for f in ("table", "json", "sarif")
    ]
    text = "".join(run.stdout + run.stderr for run in outputs)
    assert not [token for token in tokens if token in text]
