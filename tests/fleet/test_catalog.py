"""Groups as data: where `add-customer` puts a customer, and what it refuses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from architecture.loading import CONFIG_ENVIRONMENT_LIMIT, config_environment_size
from fleet.__main__ import main
from fleet.catalog import (
    ARCHITECTURE,
    CustomerSpec,
    FleetError,
    FleetSettings,
    add_customer,
    customer_tenant,
    discover_groups,
    load_settings,
    new_group_document,
    read_group_document,
    write_group,
)
from tests.support.pulumi_cli import REPO_ROOT


def settings_in(directory: Path, max_per_group: int, *, catalogs: bool = False) -> FleetSettings:
    """The shipped fleet.yaml with another group size; groups with their customers inline
    unless `catalogs` (the shipped setting, tests/fleet/test_catalog_groups.py)."""
    text = (REPO_ROOT / "fleet.yaml").read_text()
    assert "\ncatalog_dir: catalogs\n" in text
    if not catalogs:
        text = text.replace("\ncatalog_dir: catalogs\n", "\n")
    (directory / "fleet.yaml").write_text(
        text.replace("max_customers_per_group: 150", f"max_customers_per_group: {max_per_group}")
    )
    return load_settings(directory)


def add(settings: FleetSettings, key: str) -> str:
    group, _ = add_customer(settings, CustomerSpec(key, key.title()))
    return group.name


def keys_by_group(settings: FleetSettings) -> dict[str, list[str]]:
    return {group.name: group.customer_keys() for group in discover_groups(settings)}


def test_customers_fill_the_newest_group_then_start_a_new_one(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, 2)
    placed = [add(settings, key) for key in ("alpha", "bravo", "charlie", "delta", "echo")]
    assert placed == ["prod-g01", "prod-g01", "prod-g02", "prod-g02", "prod-g03"]
    assert keys_by_group(settings) == {
        "prod-g01": ["alpha", "bravo"],
        "prod-g02": ["charlie", "delta"],
        "prod-g03": ["echo"],
    }
    # Each group file is a complete stack file: the salt of the fleet and the group settings.
    document = read_group_document(tmp_path / "Pulumi.prod-g03.yaml")
    assert document["encryptionsalt"] == settings.encryptionsalt
    assert document["config"][ARCHITECTURE]["style"] == "isv"


def test_an_older_group_with_room_is_never_refilled(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, 2)
    for key in ("alpha", "bravo", "charlie"):
        add(settings, key)
    # A customer leaves g01 (its tenant removed by hand): g01 has room, g02 is the newest.
    path = tmp_path / "Pulumi.prod-g01.yaml"
    document = read_group_document(path)
    document["config"][ARCHITECTURE]["tenants"].pop(0)
    write_group(path, document, "prod-g01")
    assert add(settings, "delta") == "prod-g02"
    assert add(settings, "echo") == "prod-g03"
    assert keys_by_group(settings)["prod-g01"] == ["bravo"]


def test_a_customer_already_in_a_group_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, 2)
    for key in ("alpha", "bravo", "charlie"):
        add(settings, key)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("Pulumi.*.yaml")}
    with pytest.raises(FleetError, match="'alpha' is already in group prod-g01"):
        add(settings, "alpha")
    assert {p.name: p.read_bytes() for p in tmp_path.glob("Pulumi.*.yaml")} == before


def test_a_bad_spec_is_one_line_naming_the_field_and_writes_nothing(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, 2)
    add(settings, "alpha")
    before = (tmp_path / "Pulumi.prod-g01.yaml").read_bytes()
    with pytest.raises(FleetError) as raised:
        add_customer(settings, CustomerSpec("Not_A_Slug", "Bad"))
    message = str(raised.value)
    assert "\n" not in message
    assert "Pulumi.prod-g01.yaml would be invalid" in message and "key" in message
    with pytest.raises(FleetError, match="area_code"):
        add_customer(settings, CustomerSpec("bravo", "Bravo", area_code="12"))
    assert (tmp_path / "Pulumi.prod-g01.yaml").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.prod-g01.yaml", "fleet.yaml"]


def test_a_group_is_full_before_its_config_outgrows_the_program_variable(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, 1000)
    tenants = [customer_tenant(settings, CustomerSpec(f"c-{i:04d}", f"C {i}")) for i in range(150)]
    document = new_group_document(settings, tenants[0])
    document["config"][ARCHITECTURE]["tenants"] = tenants
    write_group(tmp_path / "Pulumi.prod-g01.yaml", document, "prod-g01")
    index = 150
    while add(settings, f"c-{index:04d}") == "prod-g01":
        index += 1
    full = read_group_document(tmp_path / "Pulumi.prod-g01.yaml")
    size = config_environment_size(full["config"])
    count = len(full["config"][ARCHITECTURE]["tenants"])
    assert 150 < count < 1000
    assert size <= CONFIG_ENVIRONMENT_LIMIT
    # One more customer would not have fitted in the program's environment variable.
    assert size + (size // count) > CONFIG_ENVIRONMENT_LIMIT
    assert keys_by_group(settings)["prod-g02"] == [f"c-{index:04d}"]


def test_the_command_prints_the_group(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shutil.copy2(REPO_ROOT / "fleet.yaml", tmp_path / "fleet.yaml")
    argv = ["--project-dir", str(tmp_path), "add-customer", "bayside", "--name", "Bayside"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == "prod-g01\n"
    assert "added to prod-g01" in captured.err
    assert main(argv) == 2
    assert "already in group prod-g01" in capsys.readouterr().err


def test_a_failed_group_is_named_by_the_providers_error() -> None:
    from pulumi.automation import CommandResult
    from pulumi.automation.errors import create_command_error

    from fleet.progress import GroupOutcome
    from fleet.runner import failure_reason

    stderr = "\n".join(
        [
            "    error: update failed",
            "    error: Resource monitor has terminated, shutting down",
            "  pulumi-python:dynamic/twilio:Subaccount (newcomer):",
            "    error: Traceback (most recent call last):",
            "    providers.errors.TwilioResourceError: Subaccount 'newcomer': Twilio error 21480:"
            " Reached the maximum of 1000 subaccounts for this account",
        ]
    )
    error = create_command_error(CommandResult(stdout="", stderr=stderr, code=255))
    reason = failure_reason(error, GroupOutcome("prod-g11"))
    assert reason.startswith("providers.errors.TwilioResourceError: Subaccount 'newcomer'")
    outcome = GroupOutcome("prod-g03", violations=["[mandatory] sender-pool-limits (x): y"])
    assert failure_reason(error, outcome) == "[mandatory] sender-pool-limits (x): y"
