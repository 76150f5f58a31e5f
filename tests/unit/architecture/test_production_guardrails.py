"""The model refuses in production what the policy pack would refuse there, before anything is
planned, in the terms of the stack file: restricted keys, a status callback on every service
(Twilio's default services included, through the collector URL), no loopback webhook, and
nothing declared on the parent account."""

from __future__ import annotations

import pytest
import yaml
from arch_samples import (
    PROD_COLLECTOR,
    isv_non_production,
    isv_production,
    only_problem,
    problems_of,
    service,
    settings_of,
    tenant,
)

from architecture import ArchitectureError, build_plan, load_stack_config

LOOPBACK_COLLECTOR = "http://127.0.0.1:4020/twilio/status"
OWN_CALLBACK = {"status_callback": "https://hooks.example.com/own"}


def test_a_standard_key_is_refused_in_production() -> None:
    data = isv_production(tenant(api_keys=[{"name": "backend", "kind": "standard"}]))
    message = only_problem(problems_of(data), "tenants[0].api_keys[0].kind")
    assert message == (
        "'standard' in production; production keys are restricted to what the app needs: "
        "kind: restricted, with its permissions"
    )


def test_a_production_service_without_status_callback_is_refused() -> None:
    data = isv_production(tenant(services=[service(webhooks={})]))
    message = only_problem(problems_of(data), "tenants[0].services[0].webhooks.status_callback")
    assert message.startswith("is required in production: every service reports delivery status")


def test_a_loopback_collector_is_refused_even_when_every_service_has_its_own_callback() -> None:
    # No service names 'collector', but each tenant's auto-generated default service reports
    # to the collector URL: in production that must not be this machine.
    data = isv_production(
        tenant("acme", services=[service(webhooks=OWN_CALLBACK)]),
        tenant("globex", services=[service(webhooks=OWN_CALLBACK)]),
    )
    message = only_problem(
        problems_of(data, collector_url=LOOPBACK_COLLECTOR), "twilio-landing-zone:collectorUrl"
    )
    assert message == (
        f"'{LOOPBACK_COLLECTOR}' is a loopback URL, and the auto-generated default Messaging "
        "Service of each production tenant (tenants[0] 'acme', tenants[1] 'globex') reports to "
        "it; loopback webhooks are allowed only outside production"
    )


def test_production_needs_a_collector_url_for_its_default_services() -> None:
    data = isv_production(tenant(services=[service(webhooks=OWN_CALLBACK)]))
    message = only_problem(
        problems_of(data, collector_url=None), "twilio-landing-zone:collectorUrl"
    )
    assert message.startswith(
        "is required in production: the auto-generated default Messaging Service of each "
        "production tenant (tenants[0] 'acme') reports delivery status to it"
    )


def test_outside_production_the_same_stack_file_is_accepted() -> None:
    relaxed = tenant(
        "shared-dev",
        "development",
        api_keys=[{"name": "backend", "kind": "standard"}],
        services=[service(webhooks={}), service("marketing", webhooks=OWN_CALLBACK)],
    )
    data = isv_non_production(relaxed, tenant("shared-staging", "staging"))
    settings = settings_of(data, collector_url=LOOPBACK_COLLECTOR, stack="dev")
    assert settings.architecture.tenants[0].api_keys[0].kind == "standard"


def test_production_accounts_and_numbers_are_always_protected() -> None:
    plan = build_plan(settings_of(isv_production(tenant("acme"), tenant("globex"))))
    assert all(account.protect for account in plan.accounts)
    assert [number.protect for number in plan.numbers()] == [True] * 4
    assert plan.collector_url == PROD_COLLECTOR


def test_a_service_declared_under_the_parent_is_reported_as_such() -> None:
    data = isv_production()
    data["parent"] = {"services": [service()]}
    message = only_problem(problems_of(data), "parent")
    assert message.startswith("Messaging Services on the parent account are not allowed")
    data = isv_production()
    data["services"] = [service()]
    message = only_problem(problems_of(data), "services")
    assert message.startswith("Messaging Services on the parent account are not allowed")
    data = isv_production()
    data["parent"] = {"api_keys": [{"name": "ops", "kind": "restricted"}]}
    assert only_problem(problems_of(data), "parent").startswith("keys on the parent account")


def test_a_stack_file_too_large_for_pulumi_to_pass_is_refused(tmp_path) -> None:
    # Pulumi passes the whole config in one environment variable, capped at 128 KiB by Linux:
    # the benchmark's 200-customer group (159 KB) could not start its program.
    from bench.estate_shape import customer_keys, stack_document

    path = tmp_path / "Pulumi.prod-g01.yaml"
    path.write_text(yaml.safe_dump(stack_document(customer_keys(200))))
    with pytest.raises(ArchitectureError) as refused:
        load_stack_config(path)
    [problem] = refused.value.problems
    assert problem.startswith("config: 159,")
    assert "over the 131,057 that Linux allows in one environment variable" in problem
    assert problem.endswith(
        "split the tenants across more stacks (about 164 of its 200 tenants fit)"
    )
    path.write_text(yaml.safe_dump(stack_document(customer_keys(150))))
    assert len(load_stack_config(path).architecture.tenants) == 150
