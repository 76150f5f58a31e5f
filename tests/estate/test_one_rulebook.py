"""One rulebook: a table of estates, each judged twice, and both must agree with the table.

- the audit's way: `estate.rulebook.judge` (the pack's rule functions on what was read);
- the engine's way: the same resources handed to the pack's pulumi-policy callbacks
  (`twilio_guardrails.POLICIES`) as `pulumi preview --policy-pack` hands them over: PolicyResource
  objects with props behind the SDK's unknown-checking proxy and property dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from estate.config import load_config
from estate.model import Estate
from estate.rulebook import NOT_APPLICABLE, judge, pack_estate, pack_rules
from tests.estate import builders as b
from twilio_guardrails import POLICIES

LOOPBACK = "http://127.0.0.1:4020/twilio/status"


@dataclass(frozen=True)
class Case:
    name: str
    estate: Estate
    expected: set[tuple[str, str]]  # (rule, object name); "" names the estate as a whole


def _cases() -> list[Case]:
    cases = [Case("the landing zone's own shape", b.landing_zone(), set())]

    parent_number = b.number()
    parent_service = b.service("Main", numbers=(parent_number,))
    cases.append(
        Case(
            "the parent sends and holds a key",
            Estate(
                b.parent(
                    services=(b.default_service(), parent_service),
                    numbers=(parent_number,),
                    keys=(b.key("legacy", "standard"),),
                ),
                b.landing_zone().subaccounts,
                b.quiet(),
            ),
            {
                ("no-sending-from-parent", "Main"),
                ("no-sending-from-parent", parent_number.phone_number),
                ("no-sending-from-parent", "legacy"),
            },
        )
    )

    numbers = (b.number(), b.number())
    twins = b.subaccount(
        "Acme",
        "production",
        numbers=numbers,
        services=(
            b.default_service(),
            b.service("Acme alerts", numbers=numbers[:1]),
            b.service("Acme reminders", numbers=numbers[1:]),
        ),
    )
    cases.append(
        Case(
            "two services for one use case",
            b.landing_zone(twins),
            {("one-messaging-service-per-use-case", "Acme reminders")},
        )
    )

    cases.append(
        Case(
            "no staging subaccount",
            b.estate(b.subaccount("dev", "development"), b.subaccount("Acme", "production")),
            {("isolated-environments", "")},
        )
    )

    callbacks = b.subaccount(
        "Bayside",
        "production",
        numbers=(),
        services=(
            b.default_service(),
            b.service("no callback", "notifications", status_callback=None),
            b.service("plain http", "marketing", status_callback="http://hooks.example.com/s"),
            b.service("loopback", "verification", status_callback=LOOPBACK),
        ),
    )
    dev_loopback = b.subaccount(
        "sandbox",
        "development",
        numbers=(),
        services=(b.default_service(), b.service("dev", status_callback=LOOPBACK)),
    )
    cases.append(
        Case(
            "status callbacks: missing, plain http, loopback (allowed in development only)",
            b.estate(b.subaccount("staging", "staging"), callbacks, dev_loopback),
            {
                ("status-callback-required", "no callback"),
                ("status-callback-required", "plain http"),
                ("status-callback-required", "loopback"),
                ("https-webhooks", "plain http"),
                ("https-webhooks", "loopback"),
            },
        )
    )

    inbound = b.number(sms_url="http://legacy.example.com/sms")
    cases.append(
        Case(
            "a number's inbound webhook on plain http",
            b.landing_zone(b.subaccount("Acme", "production", numbers=(inbound,))),
            {("https-webhooks", inbound.phone_number)},
        )
    )

    cases.append(
        Case(
            "standard keys: refused in production, allowed in development",
            b.estate(
                b.subaccount("dev", "development", keys=(b.key("dev app", "standard"),)),
                b.subaccount("staging", "staging"),
                b.subaccount(
                    "Acme", "production", keys=(b.key("web", "standard"), b.key("worker"))
                ),
            ),
            {("restricted-api-keys", "web")},
        )
    )

    crowded_numbers = tuple(b.number() for _ in range(401))
    cases.append(
        Case(
            "a pool past Twilio's 400 senders",
            b.landing_zone(
                b.subaccount(
                    "Big",
                    "production",
                    numbers=crowded_numbers,
                    services=(b.default_service(), b.service("big", numbers=crowded_numbers)),
                )
            ),
            {("sender-pool-limits", "big")},
        )
    )
    closed = b.subaccount("Gone", "production", status="closed")
    cases.append(
        Case(
            "closed and unreadable accounts contribute nothing",
            b.landing_zone(replace(closed, unreadable="closed"), replace(twins, unreadable="401")),
            set(),
        )
    )
    return cases


CASES = _cases()


def _audit_way(estate: Estate, config: dict) -> set[tuple[str, str, str]]:
    found = set()
    for violation in judge(estate, config):
        name = violation.subject.name if violation.subject else ""
        found.add((violation.rule, name, violation.message))
    return found


def _engine_way(estate: Estate, config: dict) -> set[tuple[str, str, str]]:
    resources, subjects, _pools = pack_estate(estate)
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    built: dict[str, PolicyResource] = {}
    for resource in resources.resources:  # dependencies come before their dependents
        deps = {prop: [built[urn] for urn in urns] for prop, urns in resource.dependencies.items()}
        built[resource.urn] = PolicyResource(
            resource.type,
            unknown_checking_proxy(dict(resource.props)),
            resource.urn,
            resource.name,
            options,
            None,
            None,
            [d for listed in deps.values() for d in listed],
            deps,
        )
    found = set()
    for policy in POLICIES:
        if policy.name in NOT_APPLICABLE or config[policy.name]["enforcementLevel"] == "disabled":
            continue
        settings = {k: v for k, v in config[policy.name].items() if k != "enforcementLevel"}

        def report(message: str, urn: str | None = None, rule: str = policy.name) -> None:
            name = subjects[urn].name if urn else ""
            found.add((rule, name, message))

        policy.validate(StackValidationArgs(list(built.values()), settings), report)
    return found


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_audit_and_the_pack_agree(case: Case) -> None:
    config = load_config().pack_config([rule.name for rule in pack_rules()])
    audit = _audit_way(case.estate, config)
    engine = _engine_way(case.estate, config)
    assert audit == engine
    assert {(rule, name) for rule, name, _ in audit} == case.expected


def test_every_pack_rule_but_resource_options_is_applied() -> None:
    assert {rule.name for rule in pack_rules()} == {p.name for p in POLICIES} - NOT_APPLICABLE
    assert {"protect-irreversible"} == NOT_APPLICABLE
