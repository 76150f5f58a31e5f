"""The Twilio guardrails: one module per domain, each rule a plain function over the estate
shape of `estate.py` (see `rules.py`), wrapped as a pulumi-policy stack policy.

Nothing here imports the program (providers, components, architecture): rules know resources
by type token and plain props (`tokens`), and the account each one lands in by the graph.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Policy

from twilio_guardrails.accounts import no_sending_from_parent
from twilio_guardrails.environments import isolated_environments
from twilio_guardrails.estate import Estate
from twilio_guardrails.keys import restricted_api_keys
from twilio_guardrails.messaging import (
    https_webhooks,
    one_messaging_service_per_use_case,
    status_callback_required,
)
from twilio_guardrails.protection import protect_irreversible
from twilio_guardrails.rules import Finding, Rule
from twilio_guardrails.rules import evaluate as _evaluate
from twilio_guardrails.senders import sender_pool_limits

PACK_NAME = "twilio-guardrails"

RULES: list[Rule] = [
    no_sending_from_parent,
    one_messaging_service_per_use_case,
    status_callback_required,
    https_webhooks,
    sender_pool_limits,
    restricted_api_keys,
    protect_irreversible,
    isolated_environments,
]

POLICIES: list[Policy] = [rule.policy() for rule in RULES]


def evaluate(estate: Estate, config: Mapping[str, Any] | None = None) -> Iterator[Finding]:
    """Every rule of the pack on one estate, configured like the pack (a config file's dict)."""
    return _evaluate(RULES, estate, config)


__all__ = [
    "PACK_NAME",
    "POLICIES",
    "RULES",
    "Estate",
    "Finding",
    "Rule",
    "evaluate",
]
