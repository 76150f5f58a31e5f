"""Relabelling moves nothing out of a rule's reach: every rule reads a resource's account (and
so its environment) from the graph, not from its `account_key`. Each case labels a resource
as development tenant 'lab', where the rules are lenient, while its account_sid comes from
production tenant 'acme'."""

from __future__ import annotations

from tests.policies.harness import (
    LOOPBACK_CALLBACK,
    api_key,
    check_stack,
    phone_number,
    sender_pool,
    service,
    subaccount,
)
from twilio_guardrails.keys import restricted_api_keys
from twilio_guardrails.messaging import https_webhooks, status_callback_required
from twilio_guardrails.protection import protect_irreversible
from twilio_guardrails.senders import sender_pool_limits

ACME = subaccount("acme", "production")
LAB = subaccount("lab", "development")
LENIENT = {"allow_loopback_in": ["development"]}


def test_a_loopback_status_callback_relabelled_as_development_fails() -> None:
    honest = service("lab", status_callback=LOOPBACK_CALLBACK)
    relabelled = service(
        "lab", "marketing", status_callback=LOOPBACK_CALLBACK, account_sid_from=[ACME]
    )
    [violation] = check_stack(status_callback_required, [ACME, LAB, honest, relabelled], LENIENT)
    assert violation.urn == relabelled.urn
    assert "(subaccount 'acme', production)" in violation.message


def test_a_loopback_webhook_relabelled_as_development_fails() -> None:
    relabelled = service(
        "lab", inbound_request_url="http://localhost:8000/in", account_sid_from=[ACME]
    )
    [violation] = check_stack(https_webhooks, [ACME, LAB, relabelled], LENIENT)
    assert "inbound_request_url 'http://localhost:8000/in' points at a loopback host" in (
        violation.message
    )


def test_a_standard_key_relabelled_as_development_fails() -> None:
    relabelled = api_key("lab", kind="standard", permissions=())
    relabelled.property_dependencies["account_sid"] = [ACME]
    [violation] = check_stack(restricted_api_keys, [ACME, LAB, relabelled])
    assert "(subaccount 'acme', production) is a 'standard' key" in violation.message


def test_an_unprotected_number_relabelled_as_development_fails() -> None:
    relabelled = phone_number("lab", protect=False, account_sid_from=[ACME])
    [violation] = check_stack(protect_irreversible, [ACME, LAB, relabelled])
    assert violation.urn == relabelled.urn
    assert "(subaccount 'acme', production) is not protected" in violation.message


def test_pools_in_two_labels_still_share_one_number() -> None:
    number = phone_number("acme")
    first = sender_pool("acme", numbers=[number])
    second = sender_pool("lab", "marketing", numbers=[number])
    [violation] = check_stack(sender_pool_limits, [ACME, LAB, number, first, second])
    assert "which SenderPool 'acme-svc-notifications-pool' attaches too" in violation.message
