"""A rule is a plain function over an `Estate` (estate.py) and its settings; the pulumi-policy
wrapper around it only converts the engine's resources and reports what the function found.

The `audit` command runs the same functions on what it reads from a live Twilio account:

    from twilio_guardrails import evaluate
    from twilio_guardrails.estate import Estate, Resource
    for finding in evaluate(Estate(resources), config):   # config: a policy config file's dict
        print(finding.level, finding.rule, finding.urn, finding.message)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from twilio_guardrails.config import settings
from twilio_guardrails.estate import Estate, from_policy_resources


@dataclass(frozen=True)
class Violation:
    """What a rule found: the message (what is wrong and what must change) and the resource's
    URN (None for the stack as a whole)."""

    message: str
    urn: str | None = None


Check = Callable[[Estate, Mapping[str, Any]], Iterable[Violation]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check
    config_schema: PolicyConfigSchema | None = None

    def run(self, estate: Estate, config: Mapping[str, Any] | None = None) -> list[Violation]:
        """The rule's violations, its settings filled in with the schema's defaults."""
        return list(self.check(estate, settings(self.config_schema, config or {})))

    def policy(self) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            estate = _estate_of(args.resources)
            for violation in self.run(estate, args.get_config()):
                report_violation(violation.message, violation.urn)

        return StackValidationPolicy(
            name=self.name,
            description=self.description,
            validate=validate,
            # Unconfigured runs are strict; each config file sets the level per rule.
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=self.config_schema,
        )


# The last resource list converted, and its estate. The pack's servicer hands every rule the
# same list object in one AnalyzeStack call (stack_analysis.py), so the estate is built once
# per call; holding the list keeps its identity from being reused by another.
_last_converted: tuple[Sequence[Any], Estate] | None = None


def _estate_of(resources: Sequence[Any]) -> Estate:
    global _last_converted
    if _last_converted is None or _last_converted[0] is not resources:
        _last_converted = (resources, from_policy_resources(resources))
    return _last_converted[1]


@dataclass(frozen=True)
class Finding:
    rule: str
    level: str  # mandatory, advisory (disabled rules report nothing)
    message: str
    urn: str | None


def evaluate(
    rules: Iterable[Rule], estate: Estate, config: Mapping[str, Any] | None = None
) -> Iterator[Finding]:
    """Every rule on one estate, with a policy config file's content (`{rule: {...}}`)."""
    config = config or {}
    for rule in rules:
        entry = config.get(rule.name, {})
        if isinstance(entry, str):
            entry = {"enforcementLevel": entry}
        level = entry.get("enforcementLevel", "mandatory")
        if level == "disabled":
            continue
        if level == "remediate":
            level = "mandatory"  # stack rules cannot remediate: the SDK reports them mandatory
        values = {key: value for key, value in entry.items() if key != "enforcementLevel"}
        for violation in rule.run(estate, values):
            yield Finding(rule.name, level, violation.message, violation.urn)
