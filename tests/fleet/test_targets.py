"""fleet/targets.py: when a group's run against a git ref may target only the customers that
changed, and every case that must fall back to the full run (no CLI: the plan alone; the real
runs are in test_targeted_runs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fleet.catalog import (
    ARCHITECTURE,
    CustomerSpec,
    Group,
    add_customer,
    discover_groups,
    load_settings,
)
from fleet.inputs import update_message
from fleet.targets import FullRun, Targeted, plan_targets, tenant_urn
from tests.fleet.support import commit, fleet_project


@pytest.fixture(params=[False, True], ids=["inline", "catalog"])
def project(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    project = fleet_project(tmp_path / "project", max_per_group=3, catalogs=request.param)
    settings = load_settings(project)
    for key in ("alpha", "bravo"):
        add_customer(settings, CustomerSpec(key, key.title()))
    commit(project, "alpha and bravo")
    return project


def group(project: Path) -> Group:
    return discover_groups(load_settings(project))[0]


def plan(project: Path, base: str = "HEAD") -> Targeted | FullRun:
    return plan_targets(load_settings(project), group(project), base)


def customers_file(project: Path) -> Path:
    catalog = group(project).catalog()
    return catalog if catalog is not None else group(project).path


def test_a_joining_customer_is_targeted_against_the_converged_fingerprint(project: Path) -> None:
    converged = update_message(load_settings(project), group(project))
    add_customer(load_settings(project), CustomerSpec("charlie", "Charlie"))
    decision = plan(project)
    assert decision == Targeted(("charlie",), converged)
    assert decision.targets("prod-g01") == [
        "urn:pulumi:prod-g01::twilio-landing-zone::tlz:index:LandingZone$tlz:index:Tenant::charlie"
    ]
    assert tenant_urn("prod-g01", "x").endswith("::x")


def test_an_edited_customer_is_targeted(project: Path) -> None:
    path = customers_file(project)
    path.write_text(path.read_text().replace("display_name: Bravo", "display_name: Bravo Co"))
    decision = plan(project)
    assert isinstance(decision, Targeted) and decision.customers == ("bravo",)


def test_a_removed_customer_is_a_full_run(project: Path) -> None:
    path = customers_file(project)
    document = yaml.safe_load(path.read_text())
    holder = document if "tenants" in document else document["config"][ARCHITECTURE]
    holder["tenants"] = [t for t in holder["tenants"] if t["key"] != "bravo"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    decision = plan(project)
    assert decision == FullRun("customer 'bravo' was removed since HEAD (its delete must run)")


def test_a_renamed_key_is_a_full_run(project: Path) -> None:
    path = customers_file(project)
    path.write_text(path.read_text().replace("key: bravo", "key: bravo2"))
    assert isinstance(plan(project), FullRun)


def test_shared_code_or_policy_config_changes_are_full_runs(project: Path) -> None:
    add_customer(load_settings(project), CustomerSpec("charlie", "Charlie"))
    config = project / "policies" / "config" / "prod.json"
    config.write_text(config.read_text().replace('"max_senders": 400', '"max_senders": 300'))
    assert plan(project) == FullRun("its policy config changed since HEAD")
    commit(project, "stricter")
    (project / "components" / "tenant.py").write_text("# changed\n")
    decision = plan(project)
    assert isinstance(decision, FullRun) and "shared code changed" in decision.reason


def test_group_settings_changes_are_full_runs(project: Path) -> None:
    path = group(project).path
    path.write_text(
        path.read_text().replace(
            "https://hooks.example.com/twilio/status", "https://hooks.example.com/other"
        )
    )
    assert plan(project) == FullRun("the group's settings changed since HEAD")


def test_nothing_changed_or_a_new_group_are_full_runs(project: Path) -> None:
    assert plan(project) == FullRun("no customer entry differs from HEAD")
    settings = load_settings(project)
    add_customer(settings, CustomerSpec("charlie", "Charlie"))
    commit(project, "g01 full")
    added, new = add_customer(load_settings(project), CustomerSpec("delta", "Delta"))
    assert new and added.name == "prod-g02"
    decision = plan_targets(load_settings(project), added, "HEAD")
    assert decision == FullRun("Pulumi.prod-g02.yaml is not in HEAD")
