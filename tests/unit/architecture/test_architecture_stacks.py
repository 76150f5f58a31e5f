"""The shipped stacks (one ISV's dev and prod) and the direct-style example validate and plan as
intended."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from arch_samples import REPO_ROOT

from architecture import Plan, build_plan, load_stack_config, read_stack_yaml

STACK_FILES = {
    "dev": REPO_ROOT / "Pulumi.dev.yaml",
    "prod": REPO_ROOT / "Pulumi.prod.yaml",
    "example": REPO_ROOT / "examples" / "direct" / "Pulumi.example.yaml",
}


def _plan(stack: str) -> Plan:
    return build_plan(load_stack_config(STACK_FILES[stack]))


@pytest.mark.parametrize("stack", sorted(STACK_FILES))
def test_the_stack_file_validates(stack: str) -> None:
    settings = load_stack_config(STACK_FILES[stack])
    assert settings.stack == stack
    assert settings.architecture.tenants


@pytest.mark.parametrize("stack", sorted(STACK_FILES))
def test_the_stack_file_holds_no_credentials(stack: str) -> None:
    text = STACK_FILES[stack].read_text(encoding="utf-8")
    config = read_stack_yaml(text)["config"]
    assert sorted(config) == [
        "twilio-landing-zone:architecture",
        "twilio-landing-zone:collectorUrl",
    ]
    assert not re.search(r"(AC|SK)[0-9a-fA-F]{32}", text)
    assert not re.search(r"\b[0-9a-fA-F]{32}\b", text)  # auth tokens and key secrets


@pytest.mark.parametrize("stack", sorted(STACK_FILES))
def test_every_service_reports_to_the_collector(stack: str) -> None:
    plan = _plan(stack)
    assert plan.collector_url is not None
    assert {(s.status_callback, s.status_callback_is_collector) for s in plan.services()} == {
        (plan.collector_url, True)
    }


@pytest.mark.parametrize("stack", sorted(STACK_FILES))
def test_numbers_are_bought_by_us_area_code_search(stack: str) -> None:
    numbers = list(_plan(stack).numbers())
    assert numbers
    for number in numbers:
        assert number.phone_number is None
        assert number.search is not None
        assert number.search.country == "US"
        assert number.search.area_code is not None
        # Non-production numbers are disposable; production numbers are retained.
        assert number.release_on_delete is (stack == "dev")


def test_dev_owns_one_shared_subaccount_per_non_production_environment() -> None:
    plan = _plan("dev")
    assert (plan.style, plan.environments) == ("isv", ("development", "staging"))
    assert plan.collector_url == "http://127.0.0.1:4020/twilio/status"
    assert [(a.environment, a.role, a.protect) for a in plan.accounts] == [
        ("development", "shared", False),
        ("staging", "shared", False),
    ]


def test_prod_owns_one_subaccount_per_customer() -> None:
    plan = _plan("prod")
    assert (plan.style, plan.environments) == ("isv", ("production",))
    assert plan.collector_url is not None
    assert plan.collector_url.startswith("https://")
    assert len(plan.accounts) == 3
    assert {(a.environment, a.role, a.protect) for a in plan.accounts} == {
        ("production", "customer", True)
    }
    assert {n.protect for n in plan.numbers()} == {True}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_isv_tenant_has_notifications_and_two_factor(stack: str) -> None:
    for account in _plan(stack).accounts:
        by_use_case = {s.use_case: s for s in account.services}
        assert {"notifications", "verification"} <= set(by_use_case)
        assert by_use_case["notifications"].pool.sender_count == 2
        assert [k.kind for k in account.api_keys] == ["restricted"]


def test_one_customer_runs_marketing_from_a_larger_pool() -> None:
    marketing = [s for s in _plan("prod").services() if s.use_case == "marketing"]
    assert [(s.account_key, len(s.numbers)) for s in marketing] == [("summit-fitness", 4)]


def test_dev_and_prod_objects_never_share_a_tag() -> None:
    def tags(plan: Plan) -> set[str]:
        found = {a.tag for a in plan.accounts} | {s.tag for s in plan.services()}
        return found | {n.tag for n in plan.numbers()}

    assert not tags(_plan("dev")) & tags(_plan("prod"))


def test_the_direct_example_has_teams_across_three_environments() -> None:
    plan = _plan("example")
    assert (plan.style, plan.environments) == ("direct", ("development", "staging", "production"))
    assert {a.role for a in plan.accounts} == {"business_unit"}
    teams = Counter(a.account_key.split("-")[0] for a in plan.accounts)
    assert teams == {"payments": 3, "support": 3}
    assert {a.environment for a in plan.accounts if a.protect} == {"production"}
    for account in plan.accounts:
        assert "notifications" in {s.use_case for s in account.services}
