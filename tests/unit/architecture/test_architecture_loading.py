"""Loading stack config from a Pulumi.<stack>.yaml, from engine config, from Pulumi's objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from arch_samples import PROD_COLLECTOR, isv_production, tenant

from architecture import (
    ArchitectureError,
    load_architecture,
    load_config_values,
    load_stack_config,
    read_stack_yaml,
)
from architecture.loading import stack_name_of

ARCH_KEY = "twilio-landing-zone:architecture"
COLLECTOR_KEY = "twilio-landing-zone:collectorUrl"


def _write(tmp_path: Path, document: object, name: str = "Pulumi.prod.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _errors(path: Path) -> ArchitectureError:
    with pytest.raises(ArchitectureError) as caught:
        load_stack_config(path)
    return caught.value


def test_a_stack_file_with_pulumi_and_provider_keys_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "encryptionsalt": "v1:Zm9v:v1:YmFy:YmF6",
            "secretsprovider": "passphrase",
            "config": {
                "twilio:accountSid": "AC00000000000000000000000000000000",
                "twilio:authToken": {"secure": "v1:abc"},
                "aws:region": "us-east-1",
                ARCH_KEY: isv_production(),
                COLLECTOR_KEY: PROD_COLLECTOR,
                "twilio-landing-zone:emulatorPort": 4010,
                "twilio-landing-zone:webhookSigningKey": {"secure": "v1:def"},
            },
        },
    )
    settings = load_stack_config(path)
    assert (settings.project, settings.stack) == ("twilio-landing-zone", "prod")
    assert settings.collector_url == PROD_COLLECTOR
    assert settings.architecture.tenants[0].key == "acme"
    # Plain project settings pass through; secrets and other namespaces are not ours.
    assert settings.settings == {"emulatorPort": 4010}


def test_the_stack_name_comes_from_the_file_name(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"config": {ARCH_KEY: isv_production(), COLLECTOR_KEY: PROD_COLLECTOR}},
        name="Pulumi.prod-eu.yaml",
    )
    assert load_stack_config(path).stack == "prod-eu"
    assert load_stack_config(path, stack="prod").stack == "prod"
    assert stack_name_of("examples/direct/Pulumi.example.yaml") == "example"
    assert stack_name_of("estate.yml") == "estate"


def test_another_project_namespace_is_read_when_asked(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "config": {
                "acme-zone:architecture": isv_production(),
                "acme-zone:collectorUrl": PROD_COLLECTOR,
            }
        },
    )
    assert load_stack_config(path, project="acme-zone").project == "acme-zone"
    assert _errors(path).problems == (
        "twilio-landing-zone:architecture: is required; the stack declares no architecture",
    )


def test_a_missing_architecture_suggests_a_near_miss(tmp_path: Path) -> None:
    path = _write(tmp_path, {"config": {"twilio-landing-zone:architecure": isv_production()}})
    assert _errors(path).problems == (
        "twilio-landing-zone:architecture: is required; the stack declares no architecture "
        "(found twilio-landing-zone:architecure: did you mean twilio-landing-zone:architecture?)",
    )


def test_a_misspelt_collector_url_is_pointed_out(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"config": {ARCH_KEY: isv_production(), "twilio-landing-zone:colectorUrl": PROD_COLLECTOR}},
    )
    assert _errors(path).problems == (
        "tenants[0].services[0].webhooks.status_callback: 'collector' needs "
        "twilio-landing-zone:collectorUrl, which this stack does not set",
        "twilio-landing-zone:collectorUrl: is not set (found twilio-landing-zone:colectorUrl: "
        "did you mean twilio-landing-zone:collectorUrl?)",
    )


def test_a_secret_collector_url_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path, {"config": {ARCH_KEY: isv_production(), COLLECTOR_KEY: {"secure": "v1:x"}}}
    )
    assert _errors(path).problems == (
        "twilio-landing-zone:collectorUrl: must be a plain value, not a secret",
    )


def test_an_architecture_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, {"config": {ARCH_KEY: ["style", "isv"]}})
    assert _errors(path).problems == (
        'twilio-landing-zone:architecture: expected a mapping of fields, got ["style", "isv"] '
        "(a list)",
    )


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text("config:\n  a: [1, 2\n  b: 3\n", encoding="utf-8")
    [problem] = _errors(path).problems
    assert problem.startswith("not valid YAML at line ")


def test_a_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text("- config\n", encoding="utf-8")
    assert _errors(path).problems == (
        "a stack file is a mapping with a 'config:' key, got [\"config\"]",
    )
    path.write_text("config: 3\n", encoding="utf-8")
    assert _errors(path).problems == ("config: expected a mapping, got 3",)


def test_an_empty_file_declares_no_architecture(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text("", encoding="utf-8")
    assert _errors(path).problems == (
        "twilio-landing-zone:architecture: is required; the stack declares no architecture",
    )


def test_a_missing_file_is_a_readable_error(tmp_path: Path) -> None:
    error = _errors(tmp_path / "Pulumi.nope.yaml")
    assert error.problems == ("cannot read the stack file: No such file or directory",)
    assert error.source == str(tmp_path / "Pulumi.nope.yaml")


def test_the_error_report_is_multi_line_and_names_the_source(tmp_path: Path) -> None:
    data = isv_production(tenant("Acme"), tenant("globex", display_name=""))
    path = _write(tmp_path, {"config": {ARCH_KEY: data, COLLECTOR_KEY: PROD_COLLECTOR}})
    error = _errors(path)
    assert str(error) == "\n".join(
        [
            f"{path}: 2 problems in the stack's declared architecture:",
            "  - tenants[0].key: 'Acme' is not a lowercase slug: a letter, then up to 23 "
            "lowercase letters, digits or '-'",
            "  - tenants[1].display_name: must not be empty",
        ]
    )


def test_a_single_problem_report_reads_naturally() -> None:
    error = ArchitectureError(["tenants[0].key: is required"], "Pulumi.dev.yaml")
    assert str(error) == (
        "Pulumi.dev.yaml: 1 problem in the stack's declared architecture:\n"
        "  - tenants[0].key: is required"
    )


def test_load_architecture_takes_what_require_object_returns(tmp_path: Path) -> None:
    data = isv_production()
    from_object = load_architecture(data, stack="prod", collector_url=PROD_COLLECTOR)
    path = _write(tmp_path, {"config": {ARCH_KEY: data, COLLECTOR_KEY: PROD_COLLECTOR}})
    assert from_object == load_stack_config(path)


def test_load_config_values_takes_engine_config_with_json_objects() -> None:
    # PULUMI_CONFIG carries structured values as JSON text.
    values = {
        ARCH_KEY: json.dumps(isv_production()),
        COLLECTOR_KEY: PROD_COLLECTOR,
        "twilio:accountSid": "AC00000000000000000000000000000000",
    }
    settings = load_config_values(values, stack="prod")
    assert settings.architecture.tenants[0].services[0].use_case == "notifications"
    assert settings.collector_url == PROD_COLLECTOR


def test_decrypted_engine_secrets_are_left_out_of_the_settings() -> None:
    values = {
        ARCH_KEY: json.dumps(isv_production()),
        COLLECTOR_KEY: PROD_COLLECTOR,
        "twilio-landing-zone:region": "us1",
        "twilio-landing-zone:signingKey": "plaintext-after-decryption",
    }
    secret = ["twilio-landing-zone:signingKey"]
    settings = load_config_values(values, stack="prod", secret_keys=secret)
    assert settings.settings == {"region": "us1"}
    with pytest.raises(ArchitectureError) as caught:
        load_config_values(values, stack="prod", secret_keys=[COLLECTOR_KEY])
    assert caught.value.problems == (
        "twilio-landing-zone:collectorUrl: must be a plain value, not a secret",
    )


def test_load_architecture_errors_carry_every_problem() -> None:
    with pytest.raises(ArchitectureError) as caught:
        load_architecture({"style": "isv"}, stack="prod", source="Pulumi config")
    assert caught.value.problems == ("environments: is required",)
    assert str(caught.value).startswith("Pulumi config: 1 problem")


# --- one YAML reader, with the rules of the one Pulumi uses (Go's yaml.v3) ------------------

DUPLICATED_SETTING = """\
config:
  twilio-landing-zone:collectorUrl: https://hooks.example.com/twilio/status
  twilio-landing-zone:architecture:
    style: isv
    environments: [production]
    tenants:
      - key: acme
        display_name: Acme
        environment: production
        services:
          - use_case: notifications
            validity_period: 14400
            validity_period: 3600
"""


def test_a_key_defined_twice_is_refused_in_yaml_v3_words(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(DUPLICATED_SETTING, encoding="utf-8")
    error = _errors(path)
    assert list(error.problems) == [
        'not valid YAML: line 13: mapping key "validity_period" already defined at line 12'
    ]


def test_every_duplicate_is_listed_and_keys_compare_as_written() -> None:
    text = "a: 1\nb: 2\na: 3\n'1': x\n1: y\nb: 4\n"
    with pytest.raises(ArchitectureError) as caught:
        read_stack_yaml(text, "inline")
    # yaml.v3 compares raw key text: 1 and '1' are the same key to it.
    assert list(caught.value.problems) == [
        'not valid YAML: line 3: mapping key "a" already defined at line 1',
        'not valid YAML: line 6: mapping key "b" already defined at line 2',
        'not valid YAML: line 5: mapping key "1" already defined at line 4',
    ]


def test_the_same_key_in_different_mappings_is_fine() -> None:
    assert read_stack_yaml("a: {x: 1}\nb: {x: 2}\nc: [{x: 1}, {x: 2}]\n") == {
        "a": {"x": 1},
        "b": {"x": 2},
        "c": [{"x": 1}, {"x": 2}],
    }


def test_libyamls_parser_reads_stack_files_as_the_pure_python_one() -> None:
    # read_stack_yaml parses with libyaml when PyYAML has it (speed) and reports problems in
    # the pure-Python parser's words: both must read every shipped stack file the same.
    from architecture import loading

    assert loading._FAST_LOADER is not None, "PyYAML without libyaml: the fast path is off"
    root = Path(__file__).resolve().parents[3]
    files = [*root.glob("Pulumi.*.yaml"), *root.glob("examples/**/Pulumi.*.yaml")]
    assert len(files) >= 3
    for path in files:
        text = path.read_text()
        pure = loading.StackYamlLoader(text)
        pure.duplicate_keys = []
        assert loading.read_stack_yaml(text, str(path)) == pure.get_single_data(), path
    assert issubclass(loading._FAST_LOADER, yaml.CSafeLoader)
    with pytest.raises(ArchitectureError) as twice:
        read_stack_yaml("a: 1\nb: 2\na: 3\n", "inline")
    assert 'line 3: mapping key "a" already defined at line 1' in str(twice.value)
