"""The audit's own checks, levels, outputs and exit status, on in-memory estates."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from estate import report
from estate.audit import judge_estate
from estate.config import ConfigError, load_config
from estate.environments import environment_of
from estate.findings import RULES, Finding
from estate.model import Estate, ParentTraffic
from estate.traffic import classify, use_cases_served
from tests.estate import builders as b


def rules_and_objects(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.rule, f.object_name) for f in findings}


def test_the_landing_zone_shape_has_no_finding() -> None:
    assert judge_estate(b.landing_zone()) == []


def test_messages_sent_from_the_parent_name_their_senders() -> None:
    traffic = ParentTraffic(
        30, 42, 0.33, {"+14155550100 via MG1": 36, "+14155550101": 6}, 42, False
    )
    estate = replace(b.landing_zone(), parent_traffic=traffic)
    [finding] = judge_estate(estate)
    assert (finding.rule, finding.level, finding.object_sid) == (
        "parent-sent-messages",
        "mandatory",
        b.PARENT_SID,
    )
    assert "42 messages in the last 30 days ($0.33)" in finding.message
    assert "+14155550100 via MG1 (36), +14155550101 (6)" in finding.message


def test_numbers_in_no_service_and_accounts_without_keys() -> None:
    loose = b.number()
    voice_only = replace(b.number(), sms_capable=False)
    keyless = b.subaccount("Acme", "production", keys=())
    suspended = b.subaccount("Old pilot", "production", keys=(), status="suspended")
    with_loose = b.subaccount("Bayside", "production")
    with_loose = replace(with_loose, numbers=(*with_loose.numbers, loose, voice_only))
    findings = judge_estate(b.landing_zone(keyless, suspended, with_loose))
    assert rules_and_objects(findings) == {
        ("no-api-key", "Acme"),
        ("number-in-no-service", loose.phone_number),
    }
    assert all(f.level == "advisory" for f in findings)


def test_a_service_with_no_declared_or_several_use_cases() -> None:
    undeclared = b.service("Main", "undeclared")
    mixed = b.service("Promos", "marketing", traffic={"marketing": 6, "verification": 4})
    one_odd = b.service("Alerts", traffic={"notifications": 40, "marketing": 1})
    account = b.subaccount(
        "Acme", "production", numbers=(), services=(b.default_service(), undeclared, mixed, one_odd)
    )
    findings = judge_estate(b.landing_zone(account))
    assert sorted((f.rule, f.object_name, f.message) for f in findings) == [
        (
            "declared-use-case",
            "Main",
            "MessagingService 'Main' in 'Acme' declares no use case (undeclared).",
        ),
        (
            "declared-use-case",
            "Promos",
            "MessagingService 'Promos' in 'Acme' serves several use "
            "cases by its recent traffic (marketing 6, verification 4 of the messages sampled), "
            "declared 'marketing'.",
        ),
    ]


def test_an_unreadable_account_is_a_finding_and_a_closed_one_is_not() -> None:
    broken = replace(b.subaccount("Acme", "production"), unreadable="Twilio answered 401")
    closed = replace(b.subaccount("Gone", "production", status="closed"), unreadable="closed")
    assert rules_and_objects(judge_estate(b.landing_zone(broken, closed))) == {
        ("unreadable-account", "Acme")
    }


@pytest.mark.parametrize(
    ("name", "environment"),
    [
        ("Appointly shared (development) [tlz:3f9a0c12de]", "development"),
        ("test account", "development"),
        ("QA", "development"),
        ("Acme - staging", "staging"),
        ("acme-uat", "staging"),
        ("Bayside Dental - prod", "production"),
        ("Acme Corp", "production"),
        ("Customer 00017", "production"),
    ],
)
def test_environment_from_the_name(name: str, environment: str) -> None:
    assert environment_of(name) == environment


@pytest.mark.parametrize(
    ("body", "use_case"),
    [
        ("Your verification code is 482913.", "verification"),
        ("Use code 7712 to sign in", "verification"),
        ("Spring sale: 20% off! Reply STOP to opt out.", "marketing"),
        ("Reminder: your appointment is tomorrow at 10:30.", "notifications"),
        ("Your order has shipped.", "notifications"),
        ("hello", None),
        (None, None),
    ],
)
def test_what_a_body_reads_as(body: str | None, use_case: str | None) -> None:
    assert classify(body) == use_case


def test_use_cases_served_ignore_a_stray_message() -> None:
    assert use_cases_served({"notifications": 40, "marketing": 1}) == ["notifications"]
    assert use_cases_served({"marketing": 6, "verification": 4}) == ["marketing", "verification"]
    assert use_cases_served({}) == []


# --- config -----------------------------------------------------------------------------------


def test_a_pack_config_file_raises_levels(tmp_path: Path) -> None:
    prod = Path(__file__).resolve().parents[2] / "policies" / "config" / "prod.json"
    config = load_config(prod)
    assert config.levels["status-callback-required"] == "mandatory"
    assert config.levels["parent-sent-messages"] == "mandatory"  # not in the pack's file
    account = b.subaccount(
        "Acme", "production", numbers=(), services=(b.service("x", status_callback=None),)
    )
    findings = judge_estate(b.landing_zone(account), config)
    callbacks = {(f.object_name, f.level) for f in findings if f.rule == "status-callback-required"}
    # prod.json also requires it of Twilio's default services (include_default_service).
    assert callbacks == {
        ("x", "mandatory"),
        ("[Auto-generated] Default Messaging Service", "mandatory"),
    }
    # prod.json's isolated-environments owns production only: the other two are not its own.
    assert {f.object_name for f in findings if f.rule == "isolated-environments"} == {
        "Appointly (development)",
        "Appointly (staging)",
    }


def test_a_rule_can_be_disabled(tmp_path: Path) -> None:
    path = tmp_path / "audit.json"
    path.write_text(json.dumps({"no-api-key": {"enforcementLevel": "disabled"}}))
    keyless = b.subaccount("Acme", "production", keys=())
    assert judge_estate(b.landing_zone(keyless), load_config(path)) == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "is not JSON"),
        ("[]", "must be a JSON object of rule names"),
        ('{"no-sending-from-prent": {}}', "no-sending-from-prent: is not a rule"),
        ('{"no-api-key": "x"}', "no-api-key: must be an object"),
        ('{"no-api-key": {"enforcementLevel": "loud"}}', "no-api-key.enforcementLevel: 'loud'"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_field(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "audit.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert problem in str(error.value) and str(path) in str(error.value)
    assert "\n" not in str(error.value)


# --- outputs ----------------------------------------------------------------------------------


def _legacy_like() -> tuple[Estate, list[Finding]]:
    parent_number = b.number()
    estate = Estate(
        b.parent(numbers=(parent_number,)),
        (b.subaccount("Acme", "production", keys=()),),
        ParentTraffic(30, 5, 0.04, {parent_number.phone_number: 5}, 5, False),
    )
    return estate, judge_estate(estate)


def test_summary_line_and_exit_status() -> None:
    _estate, findings = _legacy_like()
    line = report.summary_line(findings)
    assert line.startswith(f"{len(findings)} findings (2 mandatory, ")
    assert "no-sending-from-parent 1, parent-sent-messages 1" in line
    assert report.exit_status(findings, "mandatory") == 1
    advisory_only = [f for f in findings if f.level == "advisory"]
    assert report.exit_status(advisory_only, "mandatory") == 0
    assert report.exit_status(advisory_only, "advisory") == 1
    assert report.exit_status([], "advisory") == 0
    assert report.summary_line([]).startswith("0 findings")


def test_table_names_rule_object_and_what_to_do() -> None:
    estate, findings = _legacy_like()
    table = report.render_table(estate, findings)
    assert "mandatory  no-sending-from-parent" in table
    assert f"PhoneNumber '{estate.parent.numbers[0].phone_number}'" in table
    assert "why: " in table and "fix: " in table
    assert table.splitlines()[-1] == report.summary_line(findings)


def test_json_carries_every_finding_field() -> None:
    estate, findings = _legacy_like()
    document = json.loads(report.render_json(estate, findings))
    assert document["account"]["sid"] == b.PARENT_SID
    assert len(document["findings"]) == len(findings)
    assert set(document["findings"][0]) == {
        "rule",
        "level",
        "source",
        "account_sid",
        "account_name",
        "object_kind",
        "object_name",
        "object_sid",
        "message",
        "why",
        "fix",
    }
    assert document["summary"]["by_level"]["mandatory"] == 2


def test_sarif_is_2_1_0_with_rules_and_located_results() -> None:
    estate, findings = _legacy_like()
    sarif = json.loads(report.render_sarif(estate, findings))
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    [run] = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"error", "warning"}
        [location] = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"].startswith("twilio/AC")
        assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("AC")
        assert result["partialFingerprints"]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["no-sending-from-parent"] == "error"
    assert levels["no-api-key"] == "warning"
