"""The pack's servicer converts the stack's resources once per AnalyzeStack call
(twilio_guardrails/stack_analysis.py) and answers exactly as pulumi-policy's own servicer does:
same diagnostics, in the same order, with the same levels, for every rule and config."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy import StackValidationPolicy
from pulumi_policy import policy as sdk
from pulumi_policy.version import VERSION

from tests.policies import harness
from twilio_guardrails import POLICIES, tokens
from twilio_guardrails.guard import CHECKED_VERSIONS
from twilio_guardrails.stack_analysis import analysing_once

LEVELS = {
    "advisory": proto.ADVISORY,
    "mandatory": proto.MANDATORY,
    "remediate": proto.REMEDIATE,
    "disabled": proto.DISABLED,
}
REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_URN = "urn:pulumi:test::twilio-landing-zone::pulumi:providers:pulumi-python::default"


def test_checked_against_the_installed_pulumi_policy() -> None:
    assert VERSION in CHECKED_VERSIONS, (
        f"pulumi-policy {VERSION}: re-check twilio_guardrails/stack_analysis.py against the "
        "SDK's _PolicyAnalyzerServicer.AnalyzeStack, then add the version to CHECKED_VERSIONS"
    )
    # What the one-pass method relies on: the private servicer's fields and helpers.
    servicer = sdk._PolicyAnalyzerServicer("p", "0.1.0", POLICIES, sdk.EnforcementLevel.MANDATORY)
    for name in ("__policies", "__stack_tags", "__policy_pack_name", "__policy_pack_version"):
        assert hasattr(servicer, f"_PolicyAnalyzerServicer{name}"), name
    for method in (
        "_configure_runtime_settings",
        "_get_enforcement_level",
        "_create_report_violation",
        "_get_resource_options",
        "_get_provider_resource",
        "_get_policy_config",
        "_map_enforcement_level",
    ):
        assert callable(getattr(servicer, method)), method


def _request(resources: Iterable[Any]) -> Any:
    """The engine's AnalyzeStackRequest for harness resources (dependencies included, each
    URN once), every resource naming the dynamic provider as the engine does."""
    by_urn: dict[str, Any] = {}

    def add(resource: Any) -> None:
        for dependencies in resource.property_dependencies.values():
            for dependency in dependencies:
                add(dependency)
        by_urn.setdefault(resource.urn, resource)

    for resource in resources:
        add(resource)
    request = proto.AnalyzeStackRequest()
    for resource in by_urn.values():
        entry = request.resources.add(
            type=resource.resource_type, urn=resource.urn, name=resource.name
        )
        # The values as the engine sent them (unknowns as the SDK's sentinel strings).
        entry.properties.CopyFrom(_struct(resource.props["__target"]))
        entry.options.protect = bool(resource.opts.protect)
        entry.provider.type = "pulumi:providers:pulumi-python"
        entry.provider.urn = PROVIDER_URN
        entry.provider.name = "default"
        entry.provider.properties.CopyFrom(_struct({"version": "3.272.0"}))
        for prop, dependencies in resource.property_dependencies.items():
            entry.propertyDependencies[prop].urns.extend(d.urn for d in dependencies)
            entry.dependencies.extend(d.urn for d in dependencies)
    return request


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(values, default=repr)))
    return struct


def _servicer(servicer_class: type, policies: list[Any], config: Mapping[str, Any]) -> Any:
    servicer = servicer_class(
        "twilio-guardrails", "0.1.0", policies, sdk.EnforcementLevel.MANDATORY
    )
    request = proto.ConfigureAnalyzerRequest()
    for name, entry in config.items():
        configured = request.policyConfig[name]
        configured.enforcementLevel = LEVELS[entry.get("enforcementLevel", "mandatory")]
        configured.properties.CopyFrom(
            _struct({k: v for k, v in entry.items() if k != "enforcementLevel"})
        )
    servicer.Configure(request, None)
    return servicer


def _answers(policies: list[Any], config: Mapping[str, Any], request: Any) -> tuple[Any, Any]:
    stock = _servicer(sdk._PolicyAnalyzerServicer, policies, config)
    one_pass = _servicer(analysing_once(sdk._PolicyAnalyzerServicer), policies, config)
    return stock.AnalyzeStack(request, None), one_pass.AnalyzeStack(request, None)


def _estate_with_violations() -> list[Any]:
    return [
        *harness.tenant("acme"),
        *harness.tenant("bayside", "development"),
        harness.service("acme", name="acme-second-notifications"),  # a second service, one use case
        harness.service("parent"),  # a literal parent SID
        harness.api_key("parent"),
        harness.service("bayside", "marketing", status_callback="http://hooks.example.com/s"),
        harness.phone_number("acme", suffix=9, protect=False),
    ]


def _config(stack: str) -> dict[str, Any]:
    return json.loads((REPO_ROOT / "policies" / "config" / f"{stack}.json").read_text())


@pytest.mark.parametrize("config_of", ["none", "dev", "prod"])
def test_every_rule_answers_as_with_the_stock_servicer(config_of: str) -> None:
    config = {} if config_of == "none" else _config(config_of)
    stock, one_pass = _answers(POLICIES, config, _request(_estate_with_violations()))
    assert json_format.MessageToDict(one_pass) == json_format.MessageToDict(stock)
    rules = {diagnostic.policyName for diagnostic in stock.diagnostics}
    assert {"no-sending-from-parent", "one-messaging-service-per-use-case"} <= rules


def test_disabled_unknown_values_and_not_applicable_as_with_the_stock_servicer() -> None:
    def reads_an_unknown_sid(args: Any, report: Any) -> None:
        for resource in args.resources:
            if resource.resource_type == tokens.SUBACCOUNT:
                report(f"sid {resource.props['sid']}", resource.urn)  # unknown in a preview

    def not_applicable(args: Any, _report: Any) -> None:
        args.not_applicable("nothing to check here")

    def counts(args: Any, report: Any) -> None:
        report(
            f"{len(args.resources)} resources, parents linked: "
            f"{sum(r.parent is not None for r in args.resources)}"
        )

    policies = [
        StackValidationPolicy(name=name, description=name, validate=validate)
        for name, validate in (
            ("reads-unknown", reads_an_unknown_sid),
            ("not-applicable", not_applicable),
            ("counts", counts),
            ("disabled", counts),
        )
    ]
    config = {
        "disabled": {"enforcementLevel": "disabled"},
        "counts": {"enforcementLevel": "remediate"},
    }
    stock, one_pass = _answers(policies, config, _request(harness.tenant("acme")))
    assert json_format.MessageToDict(one_pass) == json_format.MessageToDict(stock)
    assert [d.policyName for d in stock.diagnostics] == ["reads-unknown", "counts"]
    assert [n.policy_name for n in stock.not_applicable] == ["not-applicable"]


def test_each_resource_is_converted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    request = _request(_estate_with_violations())
    converted = 0
    stock_convert = json_format.MessageToDict

    def counting(message: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal converted
        converted += 1
        return stock_convert(message, *args, **kwargs)

    monkeypatch.setattr(json_format, "MessageToDict", counting)
    resources = len(request.resources)
    _servicer(sdk._PolicyAnalyzerServicer, POLICIES, {}).AnalyzeStack(request, None)
    # The stock servicer: each resource and its provider, once per rule.
    assert converted == 2 * resources * len(POLICIES)
    converted = 0
    _servicer(analysing_once(sdk._PolicyAnalyzerServicer), POLICIES, {}).AnalyzeStack(request, None)
    assert converted == resources + 1  # each resource, and the one provider
