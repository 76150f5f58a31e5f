"""The engine's two per-resource calls answered at once when no rule could apply to them.

The engine calls the pack twice for every resource it registers, in series with the
provider's Check and Diff (pkg/resource/deploy/step_generator.go, engine 3.274.1): `Remediate`,
then `Analyze`. This pack has only stack rules (they see the whole resource graph: the account
a resource lives in is traced through it, issue 16), so both answers are always empty. Yet
pulumi-policy's servicer (1.21.0) re-applies the runtime settings on each call, and `Remediate`
converts the resource's properties (the pickled provider included: several kilobytes per
dynamic resource) before it looks for a remediation policy. A no-change check of a
100-customer group pays that 3,200 times, on the engine's serial path
(bench/policy_check.py).

Here both methods return the stock method's answer for a pack without resource rules, the
empty response, without that work; a pack that has a resource rule (any level) keeps the
stock methods. Installed with `guard.hold_config`, under its version guard
(`guard.CHECKED_VERSIONS`), with a test that compares the answers with the stock servicer's
(tests/policies/test_resource_calls.py).
"""

from __future__ import annotations

from typing import Any


def answering_empty(stock: type) -> type:
    """`stock` (the SDK's servicer class) answering Analyze and Remediate without converting
    anything when the pack has no resource rule."""
    from pulumi.runtime import proto
    from pulumi_policy import policy as sdk

    class EmptyPerResourceServicer(stock):
        _twilio_guardrails_empty_per_resource = True

        def _has_resource_rules(self) -> bool:
            # The pack's rules are fixed when the servicer is built; only their levels come
            # later (Configure), and a level cannot make a stack rule a resource rule.
            found = getattr(self, "_twilio_guardrails_resource_rules", None)
            if found is None:
                policies = self._PolicyAnalyzerServicer__policies
                found = any(isinstance(p, sdk.ResourceValidationPolicy) for p in policies)
                self._twilio_guardrails_resource_rules = found
            return found

        def Analyze(self, request: Any, context: Any) -> Any:  # the gRPC method's name
            if self._has_resource_rules():
                return super().Analyze(request, context)
            return proto.AnalyzeResponse()

        def Remediate(self, request: Any, context: Any) -> Any:  # the gRPC method's name
            if self._has_resource_rules():
                return super().Remediate(request, context)
            return proto.RemediateResponse()

    return EmptyPerResourceServicer
