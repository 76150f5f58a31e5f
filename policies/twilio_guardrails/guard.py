"""The pack refuses a config that weakens it, even when run by a bare `pulumi preview
--policy-pack-config` that no entry point checked first (config_file.py says what each side
checks).

The engine hands the pack its whole reconciled config in one `Configure` call before any
resource is analysed: every rule with its level and settings, plus any key the file named
that is no rule. pulumi-policy accepts whatever comes; its public API offers no hook there,
so this wraps the SDK's private analyzer servicer's `Configure`, following the project's
pattern for patching a third-party internal:

- version guard: only the pulumi-policy versions this was checked against
  (`CHECKED_VERSIONS`); any other version keeps the stock behaviour and says so on stderr
  (the CLI shows a pack's stderr), the entry points' own check still holding;
- tests: one fails when the pinned SDK changes (tests/policies/test_config_guard.py), one proves
  the effect through the real CLI (tests/policies/test_policy_pack_e2e.py).

A refused config fails `Configure` with INVALID_ARGUMENT; the CLI stops before the program
runs, printing `configuring policy pack "twilio-guardrails": <the problems>`.

The same installed servicer converts the stack's resources once for all rules rather than once
per rule (stack_analysis.py) and answers the engine's per-resource calls at once when no rule
could apply to them (resource_calls.py), under the same version guard.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

from twilio_guardrails.resource_calls import answering_empty
from twilio_guardrails.stack_analysis import analysing_once

CHECKED_VERSIONS: Final = frozenset({"1.21.0"})


def _sdk_version() -> str:
    from pulumi_policy.version import VERSION

    return VERSION


def refusals(policy_config: Mapping[str, Any], rules: Mapping[str, Sequence[str]]) -> list[str]:
    """`key: what is wrong` for a config as the engine sends it to `Configure`
    ({name: {"enforcementLevel": ..., **settings}})."""
    from twilio_guardrails.config_file import problems

    found = problems(policy_config, rules, from_engine=True)
    return [f"{key}: {message}" for key, message in found]


def hold_config(rules: Mapping[str, Sequence[str]]) -> bool:
    """Make the pack refuse a weakening config in `Configure`; True when installed."""
    version = _sdk_version()
    if version not in CHECKED_VERSIONS:
        print(
            f"twilio-guardrails: pulumi-policy {version} is not one this pack's config guard "
            f"was checked against ({', '.join(sorted(CHECKED_VERSIONS))}); running without it: "
            "check the config file with `python -m twilio_guardrails.config_file` (the "
            "entry points do).",
            file=sys.stderr,
        )
        return False
    from pulumi_policy import policy as sdk

    stock = sdk._PolicyAnalyzerServicer
    if getattr(stock, "_twilio_guardrails_guarded", False):
        return True
    # The patch itself: mypy sees a class of the SDK being replaced by a plain `type`.
    sdk._PolicyAnalyzerServicer = _guarded(analysing_once(answering_empty(stock)), rules)  # type: ignore[misc, assignment]
    return True


def _guarded(stock: type, rules: Mapping[str, Sequence[str]]) -> type:
    import grpc
    from google.protobuf import json_format

    level_names: dict[int, str] = _level_names()

    class GuardedServicer(stock):
        _twilio_guardrails_guarded = True

        def Configure(self, request: Any, context: Any) -> Any:  # the gRPC method's name
            config = {
                name: {
                    "enforcementLevel": level_names.get(entry.enforcementLevel, "unknown"),
                    **json_format.MessageToDict(entry.properties),
                }
                for name, entry in request.policyConfig.items()
            }
            refused = refusals(config, rules)
            if refused:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "the policy config weakens the Twilio guardrails: " + "; ".join(refused),
                )
            return super().Configure(request, context)

    return GuardedServicer


def _level_names() -> dict[int, str]:
    from pulumi.runtime.proto import analyzer_pb2 as proto

    return {
        proto.ADVISORY: "advisory",
        proto.MANDATORY: "mandatory",
        proto.REMEDIATE: "remediate",
        proto.DISABLED: "disabled",
    }
