"""The pack answers the engine's per-resource calls (Analyze, Remediate) without converting
anything when no rule could apply to them (twilio_guardrails/resource_calls.py), and its
answers are exactly the stock servicer's, for every resource, config and rule set."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi_policy import policy as sdk

from tests.policies import harness
from tests.policies.test_stack_analysis import (
    PROVIDER_URN,
    _config,
    _estate_with_violations,
    _servicer,
    _struct,
)
from twilio_guardrails import POLICIES, tokens
from twilio_guardrails.resource_calls import answering_empty


def _requests() -> list[Any]:
    """One AnalyzeRequest per harness resource, as the engine sends it (unknown SIDs and the
    pickled provider included)."""
    estate = [*_estate_with_violations(), *harness.tenant("bayside", "staging")]
    requests = []
    for resource in estate:
        request = proto.AnalyzeRequest(
            urn=resource.urn, type=resource.resource_type, name=resource.name
        )
        request.properties.CopyFrom(
            _struct({**resource.props["__target"], "__provider": "gASV" + "A" * 4096})
        )
        request.options.protect = bool(resource.opts.protect)
        request.provider.type = "pulumi:providers:pulumi-python"
        request.provider.urn = PROVIDER_URN
        request.provider.name = "default"
        requests.append(request)
    return requests


def _both(policies: list[Any], config: dict[str, Any]) -> tuple[Any, Any]:
    stock = _servicer(sdk._PolicyAnalyzerServicer, policies, config)
    fast = _servicer(answering_empty(sdk._PolicyAnalyzerServicer), policies, config)
    return stock, fast


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_packs_answers_are_the_stock_servicers(stack: str) -> None:
    stock, fast = _both(POLICIES, _config(stack))
    requests = _requests()
    assert len(requests) > 10
    for request in requests:
        for method in ("Analyze", "Remediate"):
            expected = getattr(stock, method)(request, None)
            answered = getattr(fast, method)(request, None)
            assert answered.SerializeToString() == expected.SerializeToString(), (
                method,
                request.urn,
            )
            assert answered == type(answered)()  # only stack rules: nothing per resource


def test_nothing_is_converted_when_no_rule_could_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    _, fast = _both(POLICIES, _config("prod"))

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("converted the properties of a per-resource call")

    monkeypatch.setattr(sdk, "deserialize_properties", refuse)
    monkeypatch.setattr(sdk.json_format, "MessageToDict", refuse)
    for request in _requests():
        assert fast.Remediate(request, None) == proto.RemediateResponse()
        assert fast.Analyze(request, None) == proto.AnalyzeResponse()


def _subaccount_without_status_rule() -> ResourceValidationPolicy:
    def validate(args: Any, report_violation: Any) -> None:
        if args.resource_type == tokens.SUBACCOUNT:
            report_violation(f"subaccount {args.props.get('account_key')} seen per resource")

    def remediate(args: Any) -> dict[str, Any] | None:
        if args.resource_type == tokens.SUBACCOUNT:
            return {**args.props, "friendly_name": "remediated"}
        return None

    return ResourceValidationPolicy(
        name="per-resource-probe",
        description="A resource rule, to show a pack with one keeps the stock methods.",
        validate=validate,
        remediate=remediate,
        enforcement_level=EnforcementLevel.REMEDIATE,
    )


def test_a_pack_with_a_resource_rule_keeps_the_stock_methods() -> None:
    policies = [*POLICIES, _subaccount_without_status_rule()]
    stock, fast = _both(policies, {})
    seen = 0
    for request in _requests():
        for method in ("Analyze", "Remediate"):
            expected = getattr(stock, method)(request, None)
            answered = getattr(fast, method)(request, None)
            assert answered.SerializeToString() == expected.SerializeToString()
            seen += int(answered != type(answered)())
    assert seen > 0  # the resource rule answered, through the stock methods
