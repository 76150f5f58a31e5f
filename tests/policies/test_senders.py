"""sender-pool-limits: at most max_senders per service; a number or short code in one only."""

from __future__ import annotations

from tests.policies.harness import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_STRING_VALUE,
    check_stack,
    phone_number,
    resource,
    sender_pool,
    tenant,
)
from twilio_guardrails.senders import sender_pool_limits

SHORT_CODE = "SC" + "a" * 32


def _numbers(count: int, key: str = "acme") -> list:
    return [phone_number(key, suffix=n) for n in range(1, count + 1)]


def test_a_tenant_passes() -> None:
    assert check_stack(sender_pool_limits, [*tenant("acme"), *tenant("globex")]) == []


def test_400_senders_pass_and_401_fail_even_with_unknown_sids() -> None:
    # 398 numbers bought in this update (SIDs unknown at preview) + a short code + an alpha.
    numbers = _numbers(398)
    full = sender_pool(numbers=numbers, short_codes=[SHORT_CODE], alpha_senders=["Acme"])
    assert check_stack(sender_pool_limits, [*numbers, full]) == []
    over = sender_pool(numbers=numbers, short_codes=[SHORT_CODE], alpha_senders=["Acme", "AcmeCo"])
    [violation] = check_stack(sender_pool_limits, [*numbers, over])
    assert violation.urn == over.urn
    assert violation.message == (
        "SenderPool 'acme-svc-notifications-pool' has 401 senders; a Messaging Service holds at "
        "most 400: remove 1 of them, or split the use case's traffic across subaccounts."
    )


def test_the_limit_is_configurable() -> None:
    numbers = _numbers(3)
    pool = sender_pool(numbers=numbers)
    [violation] = check_stack(sender_pool_limits, [*numbers, pool], {"max_senders": 2.0})
    assert "has 3 senders; a Messaging Service holds at most 2" in violation.message


def test_a_number_bought_in_this_update_in_two_pools_fails() -> None:
    # Its SID is unknown at preview: the pools' dependency on its PhoneNumber identifies it.
    number = phone_number(suffix=1)
    first = sender_pool(use_case="notifications", numbers=[number])
    second = sender_pool(use_case="marketing", numbers=[number])
    # Pools are visited by name, so the report lands on the later one (notifications).
    [violation] = check_stack(sender_pool_limits, [number, first, second])
    assert violation.urn == first.urn
    assert violation.message == (
        "SenderPool 'acme-svc-notifications-pool' attaches PhoneNumber "
        "'acme-num-notifications-1', which SenderPool 'acme-svc-marketing-pool' attaches too; "
        "a number or short code "
        "belongs to one Messaging Service only (Twilio error 21712): remove it from one of the "
        "two pools."
    )


def test_a_bought_number_is_one_sender_by_resource_or_by_literal_sid() -> None:
    sid = "PN" + "1" * 32
    number = phone_number(suffix=1, sid=sid)
    by_resource = sender_pool(use_case="notifications", numbers=[number])
    by_sid = sender_pool(use_case="marketing", extra_sids=[sid])
    assert check_stack(sender_pool_limits, [number, by_resource]) == []
    [violation] = check_stack(sender_pool_limits, [number, by_resource, by_sid])
    # Visited by name: marketing first, so notifications is the second to attach it.
    assert violation.urn == by_resource.urn
    assert violation.message.startswith(
        "SenderPool 'acme-svc-notifications-pool' attaches PhoneNumber "
        "'acme-num-notifications-1', which SenderPool 'acme-svc-marketing-pool' attaches too;"
    )
    other_literal = sender_pool(use_case="verification", extra_sids=[sid])
    [violation] = check_stack(sender_pool_limits, [by_sid, other_literal])
    assert violation.urn == other_literal.urn
    assert f"attaches phone number {sid}, which SenderPool 'acme-svc-marketing" in (
        violation.message
    )


def test_a_short_code_in_two_pools_fails() -> None:
    first = sender_pool("acme", short_codes=[SHORT_CODE])
    second = sender_pool("globex", short_codes=[SHORT_CODE])
    [violation] = check_stack(sender_pool_limits, [first, second])
    assert f"attaches short code {SHORT_CODE}, which SenderPool 'acme-svc" in violation.message


def test_alpha_senders_may_repeat_across_services() -> None:
    pools = [
        sender_pool("acme", alpha_senders=["Acme"]),
        sender_pool("globex", alpha_senders=["Acme"]),
    ]
    assert check_stack(sender_pool_limits, pools) == []


def test_unknown_lists_are_left_for_up() -> None:
    pool = resource(
        "pulumi-python:dynamic/twilio:SenderPool",
        "acme-svc-notifications-pool",
        {
            "account_key": "acme",
            "use_case": "notifications",
            "service_sid": UNKNOWN_STRING_VALUE,
            "phone_number_sids": UNKNOWN_ARRAY_VALUE,
            "short_code_sids": [UNKNOWN_STRING_VALUE],
            "alpha_senders": [],
        },
    )
    twin = sender_pool(short_codes=[SHORT_CODE], name="other-pool")
    assert check_stack(sender_pool_limits, [pool, twin], {"max_senders": 1}) == []
