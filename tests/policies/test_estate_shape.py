"""The rules run on the documented estate shape without the engine (what the audit command
does with what it reads from Twilio): plain Resources, accounts by dependency, a config file's
content for levels and settings."""

from __future__ import annotations

import json

from tests.support.pulumi_cli import REPO_ROOT
from twilio_guardrails import evaluate, tokens
from twilio_guardrails.estate import UNKNOWN, Estate, Resource

ACME_SID = "AC" + "a" * 32
PARENT_SID = "AC" + "0" * 32
PROD = json.loads((REPO_ROOT / "policies" / "config" / "prod.json").read_text())
DEV = json.loads((REPO_ROOT / "policies" / "config" / "dev.json").read_text())


def read_from_twilio() -> list[Resource]:
    """A subaccount with a service, and a service on the parent, as an audit would see them."""
    acme = Resource(
        tokens.SUBACCOUNT,
        "twilio:AC-acme",
        "acme",
        {"sid": ACME_SID, "environment": "production", "account_key": "acme"},
        protect=True,
    )
    inside = Resource(
        tokens.MESSAGING_SERVICE,
        "twilio:MG-1",
        "Acme notifications",
        {
            "account_sid": ACME_SID,
            "use_case": "notifications",
            "status_callback": "https://hooks.example.com/s",
        },
        dependencies={"account_sid": ("twilio:AC-acme",)},
    )
    on_parent = Resource(
        tokens.MESSAGING_SERVICE,
        "twilio:MG-2",
        "Parent marketing",
        {"account_sid": PARENT_SID, "use_case": "marketing", "status_callback": UNKNOWN},
    )
    return [acme, inside, on_parent]


def test_evaluate_reports_levels_from_the_config() -> None:
    estate = Estate(read_from_twilio())
    [finding] = list(evaluate(estate, PROD))
    assert (finding.rule, finding.level, finding.urn) == (
        "no-sending-from-parent",
        "mandatory",
        "twilio:MG-2",
    )
    assert finding.message.startswith("MessagingService 'Parent marketing' is a Messaging Service")


def test_the_account_of_each_resource_is_traced() -> None:
    acme, inside, on_parent = read_from_twilio()
    estate = Estate([acme, inside, on_parent])
    assert estate.account_of(inside).subaccount == acme
    assert estate.account_of(on_parent).is_parent
    assert estate.environment_of(inside) == "production"


def test_advisory_rules_in_dev_and_disabled_rules_are_skipped() -> None:
    acme, inside, _ = read_from_twilio()
    loopback = Resource(
        inside.type,
        "twilio:MG-3",
        "Acme poll",
        {**inside.props, "use_case": "poll", "status_callback": "http://127.0.0.1:4020/s"},
        dependencies=inside.dependencies,
    )
    # acme is production, which this dev config does not own: leave that rule out here.
    dev = {**DEV, "isolated-environments": "disabled"}
    findings = list(evaluate(Estate([acme, loopback]), dev))
    assert {(f.rule, f.level) for f in findings} == {
        ("status-callback-required", "advisory"),
        ("https-webhooks", "advisory"),
    }
    off = {**dev, "https-webhooks": "disabled", "status-callback-required": "disabled"}
    assert list(evaluate(Estate([acme, loopback]), off)) == []
