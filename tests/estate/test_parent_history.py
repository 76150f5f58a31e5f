"""Messages the parent sent before its senders moved into subaccounts: history with its
dates, not a current violation; while the parent still holds a sender they stay one."""

from __future__ import annotations

from dataclasses import replace

from estate.audit import judge_estate
from estate.model import Estate, ParentTraffic
from tests.estate import builders as b

FIRST, LAST = "2026-11-05T10:00:00+00:00", "2026-12-04T09:30:00+00:00"


def sent_from(sender: str) -> ParentTraffic:
    return ParentTraffic(30, 42, 0.33, {f"{sender} via MG1": 42}, 42, False, FIRST, LAST)


def parent_rules(estate: Estate) -> dict[str, str]:
    return {f.rule: f.message for f in judge_estate(estate) if f.object_sid == b.PARENT_SID}


def test_messages_from_a_number_that_moved_to_a_subaccount_are_history() -> None:
    moved = b.number()
    estate = b.landing_zone(b.subaccount("Acme", "production", numbers=(moved,)))
    estate = replace(estate, parent_traffic=sent_from(moved.phone_number))
    findings = {f.rule: f for f in judge_estate(estate)}
    assert "parent-sent-messages" not in findings
    history = findings["parent-sending-history"]
    assert history.level == "advisory"
    assert f"between {FIRST} and {LAST}" in history.message
    assert "42 messages" in history.message


def test_messages_stay_a_violation_while_the_parent_holds_a_sender() -> None:
    moved, kept = b.number(), b.number()
    estate = b.landing_zone(b.subaccount("Acme", "production", numbers=(moved,)))
    estate = replace(
        estate,
        parent=replace(estate.parent, numbers=(kept,)),
        parent_traffic=sent_from(moved.phone_number),
    )
    assert "parent-sent-messages" in parent_rules(estate)
    assert "parent-sending-history" not in parent_rules(estate)


def test_messages_from_a_number_found_nowhere_stay_a_violation() -> None:
    estate = replace(b.landing_zone(), parent_traffic=sent_from("+14155550199"))
    assert "parent-sent-messages" in parent_rules(estate)
