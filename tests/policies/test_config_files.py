"""Per-stack policy config files: valid against every rule's schema, levels as decided (dev
advisory, prod mandatory, two rules mandatory everywhere), and in step with the stack files."""

from __future__ import annotations

import json

import jsonschema
import pytest

from architecture import read_stack_file
from tests.support.pulumi_cli import REPO_ROOT
from twilio_guardrails import POLICIES
from twilio_guardrails.config import MANDATORY_EVERYWHERE, settings

CONFIG_DIR = REPO_ROOT / "policies" / "config"
STACK_FILES = {
    "dev": REPO_ROOT / "Pulumi.dev.yaml",
    "prod": REPO_ROOT / "Pulumi.prod.yaml",
    "example": REPO_ROOT / "examples" / "direct" / "Pulumi.example.yaml",
}
LEVELS = ["advisory", "mandatory", "remediate", "disabled"]
BY_NAME = {policy.name: policy for policy in POLICIES}


def load(stack: str) -> dict:
    return json.loads((CONFIG_DIR / f"{stack}.json").read_text())


def rule_schema(name: str) -> dict:
    """The object the CLI validates a rule's config against, closed to typos."""
    policy = BY_NAME[name]
    properties = dict(policy.config_schema.properties) if policy.config_schema else {}
    return {
        "type": "object",
        "properties": {**properties, "enforcementLevel": {"enum": LEVELS}},
        "additionalProperties": False,
    }


def architecture(stack: str) -> dict:
    config = read_stack_file(STACK_FILES[stack])["config"]
    return config["twilio-landing-zone:architecture"]


def test_a_config_file_per_stack_file_and_no_other() -> None:
    assert sorted(path.stem for path in CONFIG_DIR.glob("*.json")) == sorted(STACK_FILES)


@pytest.mark.parametrize("stack", sorted(STACK_FILES))
def test_config_is_valid_against_each_rules_schema(stack: str) -> None:
    config = load(stack)
    assert set(config) == set(BY_NAME), "every rule configured, nothing else"
    for name, values in config.items():
        jsonschema.validate(values, rule_schema(name))


def test_the_schemas_are_json_schemas_with_valid_defaults() -> None:
    for policy in POLICIES:
        if policy.config_schema is None:
            continue
        assert "enforcementLevel" not in policy.config_schema.properties
        for spec in policy.config_schema.properties.values():
            jsonschema.Draft7Validator.check_schema(spec)
            jsonschema.validate(spec["default"], spec)


def test_a_typo_in_a_config_file_would_be_refused() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"protected_environments": ["prodution"]}, rule_schema("protect-irreversible")
        )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"max_sender": 400}, rule_schema("sender-pool-limits"))


@pytest.mark.parametrize("stack", sorted(STACK_FILES))
def test_mandatory_everywhere(stack: str) -> None:
    config = load(stack)
    for name in MANDATORY_EVERYWHERE:
        assert config[name]["enforcementLevel"] == "mandatory", (stack, name)


def test_dev_is_advisory_prod_and_example_mandatory() -> None:
    relaxable = set(BY_NAME) - MANDATORY_EVERYWHERE
    assert {load("dev")[name]["enforcementLevel"] for name in relaxable} == {"advisory"}
    for stack in ("prod", "example"):
        assert {v["enforcementLevel"] for v in load(stack).values()} == {"mandatory"}


def test_unconfigured_rules_are_strict() -> None:
    # A run without --policy-pack-config: every rule mandatory, no loopback allowed.
    assert {policy.enforcement_level.value for policy in POLICIES} == {"mandatory"}
    for name in ("status-callback-required", "https-webhooks"):
        assert settings(BY_NAME[name].config_schema, {})["allow_loopback_in"] == []


@pytest.mark.parametrize("stack", sorted(STACK_FILES))
def test_owned_environments_and_style_follow_the_stack_file(stack: str) -> None:
    declared = architecture(stack)
    isolated = load(stack)["isolated-environments"]
    assert isolated["environments"] == declared["environments"]
    assert isolated["style"] == declared["style"]


def test_loopback_is_allowed_only_outside_production() -> None:
    for stack in STACK_FILES:
        config = load(stack)
        for name in ("status-callback-required", "https-webhooks"):
            assert "production" not in config[name]["allow_loopback_in"], (stack, name)
    assert load("prod")["https-webhooks"]["allow_loopback_in"] == []


def test_production_is_protected_and_restricted_in_every_stack() -> None:
    for stack in STACK_FILES:
        config = load(stack)
        assert "production" in config["protect-irreversible"]["protected_environments"]
        assert "production" in config["restricted-api-keys"]["require_restricted_in"]
