"""one-messaging-service-per-use-case, status-callback-required and https-webhooks."""

from __future__ import annotations

import pytest

from tests.policies.harness import (
    LOOPBACK_CALLBACK,
    UNKNOWN_STRING_VALUE,
    check_stack,
    default_service,
    messages,
    phone_number,
    service,
    subaccount,
    tenant,
    urn,
)
from twilio_guardrails.messaging import (
    https_webhooks,
    one_messaging_service_per_use_case,
    status_callback_required,
)

DEV_LOOPBACK = {"allow_loopback_in": ["development", "staging"]}

# -- one-messaging-service-per-use-case -----------------------------------------------------


def test_one_service_per_use_case_passes() -> None:
    estate = [*tenant("acme"), *tenant("globex"), service("acme", "marketing")]
    assert check_stack(one_messaging_service_per_use_case, estate) == []


def test_two_services_for_one_use_case_in_a_subaccount_fail() -> None:
    second = service("acme", "notifications", name="acme-svc-notifications-2")
    [violation] = check_stack(one_messaging_service_per_use_case, [*tenant("acme"), second])
    assert violation.urn == second.urn
    assert violation.message == (
        "MessagingService 'acme-svc-notifications-2' is another 'notifications' service in "
        "subaccount 'acme', besides 'acme-svc-notifications': keep one Messaging Service per "
        "use case in an account; remove this one or give it another use case."
    )


def test_three_services_report_each_extra_one() -> None:
    services = [service(name=f"svc-{n}") for n in "abc"]
    violations = check_stack(one_messaging_service_per_use_case, [subaccount(), *services])
    assert [v.urn for v in violations] == [services[1].urn, services[2].urn]
    assert "service in subaccount 'acme', besides 'svc-a', 'svc-b': " in violations[1].message


def test_two_labels_do_not_split_one_subaccount() -> None:
    # Relabelled: the second service says tenant 'globex' but its account_sid is acme's.
    acme = subaccount("acme")
    relabelled = service("globex", name="relabelled", account_sid_from=[acme])
    violations = check_stack(one_messaging_service_per_use_case, [*tenant("acme"), relabelled])
    assert [v.urn for v in violations] == [relabelled.urn]
    assert "another 'notifications' service in subaccount 'acme'" in violations[0].message


def test_services_on_the_parent_are_counted_too() -> None:
    estate = [service("parent", name="p1"), service("parent", name="p2")]
    [violation] = check_stack(one_messaging_service_per_use_case, estate)
    assert "another 'notifications' service in the parent account" in violation.message


def test_the_same_use_case_in_two_subaccounts_passes() -> None:
    estate = [
        subaccount("acme"),
        subaccount("globex"),
        service("acme", "verification"),
        service("globex", "verification"),
    ]
    assert check_stack(one_messaging_service_per_use_case, estate) == []


def test_twilios_default_service_is_not_a_second_service() -> None:
    estate = [subaccount(), service("acme", "undeclared"), default_service("acme")]
    assert check_stack(one_messaging_service_per_use_case, estate) == []


def test_services_with_unknown_use_case_are_left_for_up() -> None:
    estate = [service(), service(name="other", use_case=UNKNOWN_STRING_VALUE)]
    assert check_stack(one_messaging_service_per_use_case, estate) == []


def test_unknown_sids_do_not_hide_a_duplicate() -> None:
    # Both services' account_sid is the new subaccount's SID, unknown during the preview of
    # the pull request that adds the tenant; the dependency on its Subaccount groups them.
    estate = [subaccount(), service(name="a"), service(name="b")]
    assert [v.urn for v in check_stack(one_messaging_service_per_use_case, estate)] == [
        urn(estate[1].resource_type, "b")
    ]


# -- status-callback-required ---------------------------------------------------------------


def test_services_that_report_delivery_status_pass() -> None:
    assert check_stack(status_callback_required, tenant("acme")) == []


def test_a_service_without_status_callback_fails() -> None:
    silent = service("acme", "marketing", status_callback=None)
    [violation] = check_stack(status_callback_required, [subaccount(), silent])
    assert violation.urn == silent.urn
    assert violation.message == (
        "MessagingService 'acme-svc-marketing' (subaccount 'acme', production) has no "
        "status_callback: set it to the HTTPS URL that receives delivery status (the "
        "collector's), so every message sent through it is tracked."
    )


def test_the_default_service_reports_too_unless_configured_off() -> None:
    estate = [subaccount(), default_service(status_callback=None)]
    [violation] = check_stack(status_callback_required, estate)
    assert violation.message.startswith("DefaultMessagingService 'acme-default-service' ")
    assert check_stack(status_callback_required, estate, {"include_default_service": False}) == []


def test_a_plain_http_status_callback_fails() -> None:
    estate = [subaccount(), service(status_callback="http://hooks.example.com/status")]
    [violation] = check_stack(status_callback_required, estate)
    assert "status_callback 'http://hooks.example.com/status' must use https" in violation.message


def test_loopback_status_callback_only_where_allowed() -> None:
    dev = [subaccount("lab", "development"), service("lab", status_callback=LOOPBACK_CALLBACK)]
    assert check_stack(status_callback_required, dev, DEV_LOOPBACK) == []
    [strict] = check_stack(status_callback_required, dev)
    assert "points at a loopback host (this machine), which Twilio cannot reach" in strict.message
    assert "(this stack allows no loopback URLs)" in strict.message
    prod = [subaccount(), service(status_callback=LOOPBACK_CALLBACK)]
    [violation] = check_stack(status_callback_required, prod, DEV_LOOPBACK)
    assert "loopback URLs are allowed only in: development, staging" in violation.message


def test_an_unknown_status_callback_is_left_for_up() -> None:
    estate = [subaccount(), service(status_callback=UNKNOWN_STRING_VALUE)]
    assert check_stack(status_callback_required, estate) == []


# -- https-webhooks ------------------------------------------------------------------------


def test_https_webhooks_pass() -> None:
    estate = [*tenant(), phone_number(sms_url="https://api.example.com/sms", suffix=3)]
    assert check_stack(https_webhooks, estate) == []


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("inbound_request_url", "http://api.example.com/in"),
        ("fallback_url", "http://api.example.com/fb"),
        ("status_callback", "http://hooks.example.com/status"),
    ],
)
def test_plain_http_service_webhooks_fail(field: str, url: str) -> None:
    estate = [subaccount(), service(**{field: url})]
    [violation] = check_stack(https_webhooks, estate)
    assert violation.message == (
        f"MessagingService 'acme-svc-notifications' (subaccount 'acme', production): {field} "
        f"'{url}' must use https. Use an HTTPS URL (this stack allows no loopback URLs)."
    )


def test_number_webhooks_are_checked() -> None:
    number = phone_number(sms_fallback_url="ftp://files.example.com/x")
    [violation] = check_stack(https_webhooks, [subaccount(), number])
    assert violation.urn == number.urn
    assert "sms_fallback_url 'ftp://files.example.com/x' is not an absolute http(s) URL" in (
        violation.message
    )


def test_credentials_in_a_url_fail() -> None:
    estate = [subaccount(), service(inbound_request_url="https://u:p@api.example.com/in")]
    [violation] = check_stack(https_webhooks, estate)
    assert "embeds credentials" in violation.message


def test_loopback_webhooks_in_dev_only() -> None:
    dev = [
        subaccount("lab", "staging"),
        service("lab", inbound_request_url="http://localhost:8000/in"),
        default_service("lab", status_callback=LOOPBACK_CALLBACK),
    ]
    assert check_stack(https_webhooks, dev, DEV_LOOPBACK) == []
    assert len(check_stack(https_webhooks, dev, {"allow_loopback_in": []})) == 2


def test_a_tenant_without_subaccount_gets_no_loopback_allowance() -> None:
    estate = [service("ghost", status_callback=LOOPBACK_CALLBACK)]
    [violation] = check_stack(https_webhooks, estate, DEV_LOOPBACK)
    assert "(the parent account)" in violation.message


def test_unknown_urls_are_left_for_up_and_the_rest_still_checked() -> None:
    estate = [
        subaccount(),
        service(status_callback=UNKNOWN_STRING_VALUE, fallback_url="http://x.example.com/f"),
    ]
    assert messages(check_stack(https_webhooks, estate)) == [
        "MessagingService 'acme-svc-notifications' (subaccount 'acme', production): fallback_url "
        "'http://x.example.com/f' must use https. Use an HTTPS URL (this stack allows no "
        "loopback URLs)."
    ]
