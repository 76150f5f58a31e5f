"""The pure planner: names, tags, friendly names, resolved URLs, protection and counts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from arch_samples import (
    DEV_COLLECTOR,
    PROD_COLLECTOR,
    REPO_ROOT,
    SEND,
    isv_non_production,
    isv_production,
    service,
    settings_of,
    tenant,
)

from architecture import (
    NumberSearch,
    Plan,
    PlanCounts,
    build_plan,
    identity_tag,
    parse_tag,
)

PROJECT = "twilio-landing-zone"


def _plan(architecture: dict, **kwargs) -> Plan:
    return build_plan(settings_of(architecture, **kwargs))


def test_account_is_named_after_the_tenant_key() -> None:
    account = _plan(isv_production(tenant("acme", display_name="Acme Corp"))).account("acme")
    assert account.logical_name == "acme"
    assert account.account_key == "acme"
    assert account.display_name == "Acme Corp"
    assert account.tag == identity_tag(PROJECT, "prod", "acme", "acme")
    assert account.friendly_name == f"Acme Corp (production) [tlz:{account.tag}]"


def test_children_names_tags_and_friendly_names() -> None:
    plan = _plan(isv_production(tenant("acme", display_name="Acme Corp")))
    account = plan.account("acme")
    [key] = account.api_keys
    [notifications] = account.services
    assert key.logical_name == "acme-key-backend"
    assert key.friendly_name == f"Acme Corp backend [tlz:{key.tag}]"
    assert notifications.logical_name == "acme-svc-notifications"
    assert notifications.tag == "80ac726d25"
    assert notifications.friendly_name == "Acme Corp notifications [tlz:80ac726d25]"
    assert notifications.pool.logical_name == "acme-svc-notifications-pool"
    assert notifications.pool.service_logical_name == "acme-svc-notifications"
    assert [n.logical_name for n in notifications.numbers] == [
        "acme-num-notifications-1",
        "acme-num-notifications-2",
    ]
    assert notifications.pool.phone_numbers == (
        "acme-num-notifications-1",
        "acme-num-notifications-2",
    )
    assert notifications.numbers[1].friendly_name.startswith("Acme Corp notifications #2 [tlz:")
    for planned in (account, key, notifications, *notifications.numbers):
        assert parse_tag(planned.friendly_name) == planned.tag
        assert planned.tag == identity_tag(PROJECT, "prod", "acme", planned.logical_name)


def test_every_tag_of_a_plan_is_distinct() -> None:
    plan = _plan(isv_production(tenant("acme"), tenant("globex")))
    tags = [a.tag for a in plan.accounts]
    tags += [k.tag for a in plan.accounts for k in a.api_keys]
    tags += [s.tag for s in plan.services()] + [n.tag for n in plan.numbers()]
    assert len(tags) == len(set(tags)) == 2 + 2 + 2 + 4


def test_a_long_display_name_is_truncated_and_the_tag_kept() -> None:
    long_name = "The Extraordinarily Long-Named Veterinary Clinics of the Lakeshore"[:64]
    plan = _plan(isv_production(tenant("lakeshore", display_name=long_name)))
    account = plan.account("lakeshore")
    names = [account.friendly_name, account.services[0].friendly_name]
    names += [n.friendly_name for n in account.services[0].numbers]
    for name in names:
        assert len(name) <= 64
        assert name.startswith("The Extraordinarily Long-Named")
    # 64 once create adds the state mark (`:5b1c0e`) to the tag.
    assert len(account.friendly_name) == 64 - 7
    assert account.friendly_name.endswith(f" [tlz:{account.tag}]")
    assert parse_tag(account.friendly_name) == account.tag


def test_an_explicit_service_friendly_name_is_the_human_part() -> None:
    plan = _plan(isv_production(tenant(services=[service(friendly_name="Acme reminders")])))
    planned = next(plan.services())
    assert planned.friendly_name == f"Acme reminders [tlz:{planned.tag}]"


def test_renaming_a_tenant_changes_only_display_text() -> None:
    before = _plan(isv_production(tenant("acme", display_name="Acme Corp"))).account("acme")
    after = _plan(isv_production(tenant("acme", display_name="Acme Inc"))).account("acme")
    assert after.logical_name == before.logical_name
    assert after.tag == before.tag
    assert [s.tag for s in after.services] == [s.tag for s in before.services]
    assert after.friendly_name == f"Acme Inc (production) [tlz:{before.tag}]"


def test_plans_are_deterministic_and_frozen() -> None:
    first = _plan(isv_production(tenant("acme"), tenant("globex")))
    second = _plan(isv_production(tenant("acme"), tenant("globex")))
    assert first == second
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.accounts[0].protect = False  # type: ignore[misc]


def test_tags_depend_on_the_stack() -> None:
    prod = _plan(isv_production(tenant("acme")), stack="prod").account("acme")
    other = _plan(isv_production(tenant("acme")), stack="prod-eu").account("acme")
    assert prod.logical_name == other.logical_name
    assert prod.tag != other.tag


def test_status_callback_collector_is_resolved() -> None:
    hooks = [
        {"status_callback": "collector"},
        {"status_callback": "https://status.example.com/cb"},
        {},
    ]
    services = [
        service(use_case, webhooks=hook)
        for use_case, hook in zip(("notifications", "marketing", "poll"), hooks, strict=True)
    ]
    # Outside production a service may go without a status callback.
    plan = _plan(
        isv_non_production(
            tenant("shared-dev", "development", services=services),
            tenant("shared-staging", "staging"),
        )
    )
    resolved = [
        (s.status_callback, s.status_callback_is_collector)
        for s in plan.account("shared-dev").services
    ]
    assert resolved == [
        (PROD_COLLECTOR, True),
        ("https://status.example.com/cb", False),
        (None, False),
    ]
    assert plan.account("shared-dev").default_service_status_callback == PROD_COLLECTOR


def test_service_settings_and_webhooks_pass_through() -> None:
    hooks = {
        "inbound_request_url": "https://api.example.com/in",
        "inbound_method": "GET",
        "fallback_url": "https://fallback.example.com/in",
        "status_callback": "collector",
    }
    data = isv_production(
        tenant(
            services=[
                service(
                    validity_period=600,
                    sticky_sender=False,
                    scan_message_content="disable",
                    use_inbound_webhook_on_number=True,
                    webhooks=hooks,
                )
            ]
        )
    )
    planned = next(_plan(data).services())
    assert (planned.validity_period, planned.sticky_sender, planned.scan_message_content) == (
        600,
        False,
        "disable",
    )
    assert planned.use_inbound_webhook_on_number is True
    assert planned.area_code_geomatch is True
    assert (planned.inbound_request_url, planned.inbound_method) == (
        "https://api.example.com/in",
        "GET",
    )
    assert (planned.fallback_url, planned.fallback_method) == (
        "https://fallback.example.com/in",
        "POST",
    )


def test_searched_numbers_carry_the_search_and_sms_webhooks() -> None:
    senders = {
        "phone_numbers": {
            "count": 2,
            "area_code": "303",
            "contains": "555",
            "sms_webhooks": {"sms_url": "https://api.example.com/sms", "sms_method": "GET"},
            "release_on_delete": True,
        }
    }
    numbers = list(_plan(isv_production(tenant(services=[service(senders=senders)]))).numbers())
    assert [n.search for n in numbers] == [NumberSearch("US", "303", "555", True)] * 2
    assert [n.phone_number for n in numbers] == [None, None]
    assert {(n.sms_url, n.sms_method, n.release_on_delete) for n in numbers} == {
        ("https://api.example.com/sms", "GET", True)
    }


def test_exact_numbers_are_named_by_their_digits() -> None:
    senders = {"phone_numbers": {"numbers": ["+14155550100", "+14155550101"]}}
    plan = _plan(isv_production(tenant(services=[service(senders=senders)])))
    numbers = list(plan.numbers())
    assert [(n.logical_name, n.phone_number, n.search) for n in numbers] == [
        ("acme-num-14155550100", "+14155550100", None),
        ("acme-num-14155550101", "+14155550101", None),
    ]
    assert numbers[0].release_on_delete is False
    assert numbers[0].friendly_name.startswith("Acme notifications +14155550100 [tlz:")


def test_production_accounts_and_numbers_are_protected() -> None:
    prod = _plan(isv_production())
    dev = _plan(isv_non_production(), collector_url=DEV_COLLECTOR, stack="dev")
    assert [a.protect for a in prod.accounts] == [True]
    assert {n.protect for n in prod.numbers()} == {True}
    assert [a.protect for a in dev.accounts] == [False, False]
    assert {n.protect for n in dev.numbers()} == {False}


def test_roles_come_from_the_style() -> None:
    prod = _plan(isv_production())
    dev = _plan(isv_non_production(), collector_url=DEV_COLLECTOR, stack="dev")
    assert [a.role for a in prod.accounts] == ["customer"]
    assert [(a.role, a.environment) for a in dev.accounts] == [
        ("shared", "development"),
        ("shared", "staging"),
    ]


def test_api_key_policy() -> None:
    keys = [
        {"name": "backend", "kind": "restricted", "permissions": [SEND]},
        {"name": "ops", "kind": "standard"},
    ]
    # Standard keys exist outside production only.
    dev = isv_non_production(
        tenant("shared-dev", "development", api_keys=keys), tenant("shared-staging", "staging")
    )
    restricted, standard = _plan(dev).account("shared-dev").api_keys
    assert (restricted.kind, restricted.policy) == ("restricted", {"allow": [SEND]})
    assert (standard.kind, standard.permissions, standard.policy) == ("standard", (), None)
    assert (restricted.rotation, standard.rotation) == (0, 0)


def test_api_key_rotation_is_carried_into_the_plan() -> None:
    keys = [{"name": "backend", "kind": "restricted", "permissions": [SEND], "rotation": 2}]
    [key] = _plan(isv_production(tenant(api_keys=keys))).account("acme").api_keys
    assert key.rotation == 2
    assert key.logical_name == "acme-key-backend"


def test_counts() -> None:
    senders = {
        "phone_numbers": {"count": 4},
        "short_codes": ["SC" + "1" * 32],
        "alpha_senders": ["Acme"],
    }
    data = isv_production(
        tenant("acme", services=[service(), service("marketing", senders=senders)]),
        tenant("globex", api_keys=[], services=[service("verification", senders={})]),
    )
    plan = _plan(data)
    assert plan.counts == PlanCounts(
        accounts=2,
        api_keys=1,
        services=3,
        sender_pools=3,
        phone_numbers=6,
        short_codes=1,
        alpha_senders=1,
    )
    assert plan.counts.resources == 2 + 1 + 3 + 3 + 6
    marketing = plan.account("acme").services[1]
    assert marketing.pool.sender_count == 6
    assert marketing.pool.short_codes == ("SC" + "1" * 32,)
    assert marketing.pool.alpha_senders == ("Acme",)


def test_plan_header() -> None:
    plan = _plan(isv_non_production(), collector_url=DEV_COLLECTOR, stack="dev")
    assert (plan.project, plan.stack, plan.style) == (PROJECT, "dev", "isv")
    assert plan.environments == ("development", "staging")
    assert plan.collector_url == DEV_COLLECTOR
    with pytest.raises(KeyError):
        plan.account("nobody")


def test_architecture_imports_neither_pulumi_nor_twilio() -> None:
    code = (
        "import sys, architecture, architecture.__main__\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(loaded & {'pulumi', 'twilio'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
