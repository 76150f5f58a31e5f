"""The stack's resources converted once per `AnalyzeStack` call, not once per rule.

pulumi-policy's analyzer servicer (`_PolicyAnalyzerServicer.AnalyzeStack`, 1.21.0) converts
every resource the engine sends (protobuf Struct -> dict, the proxy, its options, its
provider's properties) again for each stack policy. Every rule of this pack is a stack rule,
so a 100-customer group's 1,600 resources were converted eight times: that conversion was
most of the pack's CPU in the policy check (bench/policy_check.py). Here the conversion is
the SDK's own, done once and shared: each rule still receives every resource, with the same
values, parents and dependencies, and its own config, enforcement level and diagnostics,
exactly as the stock servicer builds them. Rules only read what they receive (estate.py
converts it into frozen data), so sharing changes nothing they see.

It follows guard.py's pattern for patching a third-party internal: installed by `hold_config`
only on the pulumi-policy versions it was checked against (`guard.CHECKED_VERSIONS`, the
stock behaviour otherwise), with a test that fails when the pinned SDK changes and one that
compares its answer with the stock servicer's (tests/policies/test_stack_analysis.py).
"""

from __future__ import annotations

import asyncio
from inspect import isawaitable
from typing import Any


def analysing_once(stock: type) -> type:
    """`stock` (the SDK's servicer class) with `AnalyzeStack` converting resources once."""
    from pulumi.runtime import proto
    from pulumi_policy import policy as sdk

    class OnePassServicer(stock):
        _twilio_guardrails_one_pass = True

        def AnalyzeStack(self, request: Any, _context: Any) -> Any:  # the gRPC method's name
            # The stock method's steps, in its order and words, with `resources` built once.
            self._configure_runtime_settings()
            response = proto.AnalyzeResponse()
            resources: list[sdk.PolicyResource] | None = None
            for policy in self._PolicyAnalyzerServicer__policies:
                enforcement_level = self._get_enforcement_level(policy)
                if enforcement_level == sdk.EnforcementLevel.DISABLED or not isinstance(
                    policy, sdk.StackValidationPolicy
                ):
                    continue
                if enforcement_level == sdk.EnforcementLevel.REMEDIATE:
                    # Stack policies cannot be remediated, so treat the level as mandatory.
                    enforcement_level = sdk.EnforcementLevel.MANDATORY
                report_violation = self._create_report_violation(
                    response, policy.name, policy.description, enforcement_level, policy.severity
                )
                if resources is None:
                    resources = policy_resources(self, request)
                config = self._get_policy_config(policy.name)
                args = sdk.StackValidationArgs(
                    resources, config, self._PolicyAnalyzerServicer__stack_tags
                )
                try:
                    result = policy.validate(args, report_violation)
                    if isawaitable(result):
                        loop = asyncio.new_event_loop()
                        # As the SDK does; its `Awaitable` is a coroutine in practice.
                        task = asyncio.Task(result, loop=loop)  # type: ignore[arg-type, var-annotated]
                        loop.run_until_complete(task)
                        loop.close()
                except sdk.UnknownValueError as error:
                    response.diagnostics.append(
                        _unknown_value_diagnostic(self, proto, policy, error, sdk)
                    )
                except sdk._NotApplicableError as error:
                    response.not_applicable.append(
                        proto.PolicyNotApplicable(
                            policy_name=policy.name, reason=error.reason or ""
                        )
                    )
            return response

    return OnePassServicer


def policy_resources(servicer: Any, request: Any) -> list[Any]:
    """The request's resources as the stock servicer builds them for a stack policy: props
    behind the unknown-checking proxy, options, provider, parent and dependencies linked."""
    from google.protobuf import json_format
    from pulumi_policy import policy as sdk
    from pulumi_policy.deserialize import deserialize_properties
    from pulumi_policy.proxy import unknown_checking_proxy

    # Every dynamic resource names the same provider: convert each provider once.
    providers: dict[str, Any] = {}
    built: list[tuple[Any, str, list[str], dict[str, list[str]]]] = []
    for r in request.resources:
        deserialized = deserialize_properties(json_format.MessageToDict(r.properties))
        props = unknown_checking_proxy(deserialized)
        options = servicer._get_resource_options(r)
        provider_key = r.provider.urn if r.HasField("provider") else ""
        if provider_key not in providers:
            providers[provider_key] = servicer._get_provider_resource(r)
        resource = sdk.PolicyResource(
            r.type, props, r.urn, r.name, options, providers[provider_key], None, [], {}
        )
        property_dependencies = {k: list(v.urns) for k, v in r.propertyDependencies.items()}
        built.append((resource, r.parent, list(r.dependencies), property_dependencies))

    by_urn = {resource.urn: resource for resource, *_ in built}
    for resource, parent, dependencies, property_dependencies in built:
        if parent is not None and parent in by_urn:
            resource.parent = by_urn[parent]
        resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
        for key, urns in property_dependencies.items():
            resource.property_dependencies[key] = [by_urn[d] for d in urns if d in by_urn]
    return [resource for resource, *_ in built]


def _unknown_value_diagnostic(servicer: Any, proto: Any, policy: Any, error: Any, sdk: Any) -> Any:
    name = servicer._PolicyAnalyzerServicer__policy_pack_name
    version = servicer._PolicyAnalyzerServicer__policy_pack_version
    return proto.AnalyzeDiagnostic(
        policyName=policy.name,
        policyPackName=name,
        policyPackVersion=version,
        message=(
            f"can't run policy '{policy.name}' from policy pack "
            f"'{name}@v{version}' during preview: {error.message}"
        ),
        urn="",
        description=policy.description,
        enforcementLevel=servicer._map_enforcement_level(sdk.EnforcementLevel.ADVISORY),
    )
