"""Groups whose customers live in a catalog file (the shipped fleet.yaml's `catalog_dir`):
where `add-customer` writes, what it refuses, and which groups a catalog change touches."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from architecture import load_stack_config
from architecture.loading import CONFIG_ENVIRONMENT_LIMIT, config_environment_size
from fleet.catalog import (
    ARCHITECTURE,
    CATALOG,
    CustomerSpec,
    FleetError,
    add_customer,
    customer_tenant,
    discover_groups,
    load_settings,
    read_group_document,
    write_catalog,
)
from fleet.inputs import changed_groups, fingerprint
from tests.fleet.support import commit, fleet_project
from tests.fleet.test_catalog import add, keys_by_group, settings_in


def test_new_groups_name_a_catalog_that_lists_their_customers(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, 2, catalogs=True)
    placed = [add(settings, key) for key in ("alpha", "bravo", "charlie")]
    assert placed == ["prod-g01", "prod-g01", "prod-g02"]
    assert keys_by_group(settings) == {"prod-g01": ["alpha", "bravo"], "prod-g02": ["charlie"]}
    document = read_group_document(tmp_path / "Pulumi.prod-g01.yaml")
    assert document["config"][CATALOG] == "catalogs/prod-g01.yaml"
    assert "tenants" not in document["config"][ARCHITECTURE]
    assert document["encryptionsalt"] == settings.encryptionsalt
    catalog = yaml.safe_load((tmp_path / "catalogs" / "prod-g01.yaml").read_text())
    assert [tenant["key"] for tenant in catalog["tenants"]] == ["alpha", "bravo"]
    # The pair is a stack as `pulumi` and `python -m architecture validate` read it.
    settings_g01 = load_stack_config(tmp_path / "Pulumi.prod-g01.yaml")
    assert [tenant.key for tenant in settings_g01.architecture.tenants] == ["alpha", "bravo"]
    assert sorted(p.name for p in (tmp_path / "catalogs").iterdir()) == [
        "prod-g01.yaml",
        "prod-g02.yaml",
    ]


def test_a_catalog_group_grows_past_the_environment_variable_cap(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, 250, catalogs=True)
    add(settings, "c-0000")
    tenants = [customer_tenant(settings, CustomerSpec(f"c-{i:04d}", f"C {i}")) for i in range(198)]
    stack = read_group_document(tmp_path / "Pulumi.prod-g01.yaml")
    write_catalog(settings, stack, "catalogs/prod-g01.yaml", tenants, "prod-g01")
    for index in (198, 199):
        assert add(settings, f"c-{index:04d}") == "prod-g01"
    document = read_group_document(tmp_path / "Pulumi.prod-g01.yaml")
    assert config_environment_size(document["config"]) < CONFIG_ENVIRONMENT_LIMIT // 100
    [group] = discover_groups(settings)
    assert len(group.customer_keys()) == 200


def test_a_bad_spec_changes_no_catalog(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, 2, catalogs=True)
    add(settings, "alpha")
    catalog = tmp_path / "catalogs" / "prod-g01.yaml"
    before = catalog.read_bytes()
    with pytest.raises(FleetError) as raised:
        add_customer(settings, CustomerSpec("Not_A_Slug", "Bad"))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("catalogs/prod-g01.yaml would be invalid: ") and "key" in message
    with pytest.raises(FleetError, match="already in group prod-g01"):
        add(settings, "alpha")
    assert catalog.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "catalogs").iterdir()) == ["prod-g01.yaml"]
    # A refused first customer of a new group leaves neither file behind.
    add(settings, "bravo")
    with pytest.raises(FleetError, match="would be invalid"):
        add_customer(settings, CustomerSpec("charlie", "Charlie", area_code="12"))
    assert not (tmp_path / "Pulumi.prod-g02.yaml").exists()
    assert sorted(p.name for p in (tmp_path / "catalogs").iterdir()) == ["prod-g01.yaml"]


def test_inline_groups_keep_growing_inline_beside_catalog_groups(tmp_path: Path) -> None:
    inline = settings_in(tmp_path, 3)
    add(inline, "alpha")
    with_catalogs = load_settings(tmp_path).__class__(
        **{**load_settings(tmp_path).__dict__, "catalog_dir": "catalogs"}
    )
    assert add(with_catalogs, "bravo") == "prod-g01"
    document = read_group_document(tmp_path / "Pulumi.prod-g01.yaml")
    assert [t["key"] for t in document["config"][ARCHITECTURE]["tenants"]] == ["alpha", "bravo"]
    assert not (tmp_path / "catalogs").exists()


def test_a_catalog_change_touches_only_its_group(tmp_path: Path) -> None:
    project = fleet_project(tmp_path / "project", max_per_group=2, catalogs=True)
    settings = load_settings(project)
    for key in ("alpha", "bravo", "charlie"):
        add_customer(settings, CustomerSpec(key, key.title()))
    commit(project, "two catalog groups")
    groups = {group.name: group for group in discover_groups(settings)}
    before = fingerprint(settings, groups["prod-g02"])
    catalog = project / "catalogs" / "prod-g02.yaml"
    catalog.write_text(catalog.read_text().replace("display_name: Charlie", "display_name: C Co"))
    chosen, removed = changed_groups(settings, "HEAD")
    assert [(c.name, c.reason) for c in chosen] == [("prod-g02", "catalogs/prod-g02.yaml changed")]
    assert removed == []
    assert fingerprint(settings, groups["prod-g02"]) != before


def test_a_bad_catalog_dir_is_one_line(tmp_path: Path) -> None:
    settings_in(tmp_path, 2, catalogs=True)
    text = (tmp_path / "fleet.yaml").read_text()
    (tmp_path / "fleet.yaml").write_text(text.replace("catalog_dir: catalogs", "catalog_dir: ../x"))
    with pytest.raises(FleetError, match="catalog_dir: a folder inside the project"):
        load_settings(tmp_path)
