"""A group's tenants in a catalog file beside the stack file (`<project>:catalog`): the stack
config stays small at any group size, and the file is read by the program (from the engine's
config and the working directory) and by every entry point that validates a stack file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from arch_samples import PROD_COLLECTOR, isv_production, tenant

from architecture import ArchitectureError, load_config_values, load_stack_config
from architecture.loading import (
    CONFIG_ENVIRONMENT_LIMIT,
    config_environment_size,
)

ARCH_KEY = "twilio-landing-zone:architecture"
COLLECTOR_KEY = "twilio-landing-zone:collectorUrl"
CATALOG_KEY = "twilio-landing-zone:catalog"


def _catalog_stack(
    project: Path, tenants: list[dict], catalog: str = "catalogs/prod-g01.yaml"
) -> Path:
    (project / catalog).parent.mkdir(parents=True, exist_ok=True)
    (project / catalog).write_text(yaml.safe_dump({"tenants": tenants}), encoding="utf-8")
    architecture = isv_production()
    del architecture["tenants"]
    stack_file = project / "Pulumi.prod-g01.yaml"
    config = {ARCH_KEY: architecture, COLLECTOR_KEY: PROD_COLLECTOR, CATALOG_KEY: catalog}
    stack_file.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    return stack_file


def _problems(stack_file: Path) -> ArchitectureError:
    with pytest.raises(ArchitectureError) as caught:
        load_stack_config(stack_file)
    return caught.value


def test_the_tenants_come_from_the_catalog_beside_the_stack_file(tmp_path: Path) -> None:
    stack_file = _catalog_stack(tmp_path, [tenant("acme"), tenant("globex")])
    settings = load_stack_config(stack_file)
    assert settings.stack == "prod-g01"
    assert [t.key for t in settings.architecture.tenants] == ["acme", "globex"]
    # The catalog key is the loader's, not a setting passed through to the program.
    assert settings.settings == {}


def test_a_catalog_stack_equals_the_same_stack_inline(tmp_path: Path) -> None:
    tenants = [tenant("acme"), tenant("globex", api_keys=[])]
    inline = tmp_path / "inline" / "Pulumi.prod-g01.yaml"
    inline.parent.mkdir()
    config = {ARCH_KEY: isv_production(*tenants), COLLECTOR_KEY: PROD_COLLECTOR}
    inline.write_text(yaml.safe_dump({"config": config}))
    (tmp_path / "catalog").mkdir()
    from_catalog = _catalog_stack(tmp_path / "catalog", tenants)
    assert load_stack_config(from_catalog) == load_stack_config(inline)


def test_the_program_reads_the_catalog_from_the_engine_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine's PULUMI_CONFIG: structured values as JSON text; the program runs in the
    # project directory.
    _catalog_stack(tmp_path, [tenant("acme")])
    architecture = isv_production()
    del architecture["tenants"]
    values = {
        ARCH_KEY: json.dumps(architecture),
        COLLECTOR_KEY: PROD_COLLECTOR,
        CATALOG_KEY: "catalogs/prod-g01.yaml",
    }
    monkeypatch.chdir(tmp_path)
    settings = load_config_values(values, stack="prod-g01")
    assert [t.key for t in settings.architecture.tenants] == ["acme"]


def test_a_problem_in_a_catalog_names_the_catalog_and_the_tenant(tmp_path: Path) -> None:
    stack_file = _catalog_stack(tmp_path, [tenant("acme"), tenant("Not_A_Slug")])
    error = _problems(stack_file)
    assert error.source == f"{stack_file} with catalogs/prod-g01.yaml"
    assert any(problem.startswith("tenants[1].key:") for problem in error.problems)


def test_tenants_in_both_places_are_refused(tmp_path: Path) -> None:
    stack_file = _catalog_stack(tmp_path, [tenant("acme")])
    document = yaml.safe_load(stack_file.read_text())
    document["config"][ARCH_KEY]["tenants"] = [tenant("globex")]
    stack_file.write_text(yaml.safe_dump(document))
    [problem] = _problems(stack_file).problems
    assert "twilio-landing-zone:architecture.tenants" in problem
    assert "'catalogs/prod-g01.yaml'" in problem and "not both" in problem


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("../outside.yaml", "must be a path inside the project"),
        ("/etc/tenants.yaml", "must be a path inside the project"),
        ("catalogs/prod-g01.json", "must name a .yaml file"),
        (17, "expected the path of a YAML file, got 17"),
    ],
)
def test_a_catalog_outside_the_project_or_not_yaml_is_one_line(
    tmp_path: Path, value: object, words: str
) -> None:
    stack_file = _catalog_stack(tmp_path, [tenant("acme")])
    document = yaml.safe_load(stack_file.read_text())
    document["config"][CATALOG_KEY] = value
    stack_file.write_text(yaml.safe_dump(document))
    error = _problems(stack_file)
    [problem] = error.problems
    assert problem.startswith("twilio-landing-zone:catalog: ") and words in problem
    assert error.source == str(stack_file)


def test_a_missing_or_malformed_catalog_is_named(tmp_path: Path) -> None:
    stack_file = _catalog_stack(tmp_path, [tenant("acme")])
    catalog = tmp_path / "catalogs" / "prod-g01.yaml"
    catalog.write_text("tenants: [acme\n")
    error = _problems(stack_file)
    assert error.source == "catalogs/prod-g01.yaml"
    assert error.problems[0].startswith("not valid YAML at line")
    catalog.write_text(yaml.safe_dump({"tenants": [tenant("acme")], "style": "isv"}))
    assert "one key, 'tenants'" in _problems(stack_file).problems[0]
    catalog.write_text(yaml.safe_dump({"tenants": {"acme": {}}}))
    assert _problems(stack_file).problems[0].startswith("tenants: expected a list")
    catalog.unlink()
    error = _problems(stack_file)
    assert (error.source, error.problems) == (
        "catalogs/prod-g01.yaml",
        ("the stack's catalog file does not exist",),
    )


def test_a_secret_catalog_path_is_refused(tmp_path: Path) -> None:
    stack_file = _catalog_stack(tmp_path, [tenant("acme")])
    document = yaml.safe_load(stack_file.read_text())
    document["config"][CATALOG_KEY] = {"secure": "v1:abc"}
    stack_file.write_text(yaml.safe_dump(document))
    assert _problems(stack_file).problems == (
        "twilio-landing-zone:catalog: must be a plain value, not a secret",
    )


def test_a_catalog_lifts_the_environment_variable_cap(tmp_path: Path) -> None:
    # 400 customers: several times what fits in the 128 KiB variable when inline.
    tenants = [tenant(f"customer-{index:04d}") for index in range(400)]
    stack_file = _catalog_stack(tmp_path, tenants)
    assert len(load_stack_config(stack_file).architecture.tenants) == 400
    config = yaml.safe_load(stack_file.read_text())["config"]
    assert config_environment_size(config) < 1_000
    inline = dict(config)
    del inline[CATALOG_KEY]
    inline[ARCH_KEY] = isv_production(*tenants)
    assert config_environment_size(inline) > CONFIG_ENVIRONMENT_LIMIT
