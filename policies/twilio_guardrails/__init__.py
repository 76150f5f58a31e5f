"""The Twilio guardrails: one module per domain, each rule importable for tests.

Nothing here imports the program (providers, components, architecture): rules know resources
by type token and plain props (`tokens`).
"""

from __future__ import annotations

from twilio_guardrails.accounts import no_sending_from_parent
from twilio_guardrails.environments import isolated_environments
from twilio_guardrails.keys import restricted_api_keys
from twilio_guardrails.messaging import (
    https_webhooks,
    one_messaging_service_per_use_case,
    status_callback_required,
)
from twilio_guardrails.protection import protect_irreversible
from twilio_guardrails.senders import sender_pool_limits

PACK_NAME = "twilio-guardrails"

POLICIES = [
    no_sending_from_parent,
    one_messaging_service_per_use_case,
    status_callback_required,
    https_webhooks,
    sender_pool_limits,
    restricted_api_keys,
    protect_irreversible,
    isolated_environments,
]

__all__ = [
    "PACK_NAME",
    "POLICIES",
    "https_webhooks",
    "isolated_environments",
    "no_sending_from_parent",
    "one_messaging_service_per_use_case",
    "protect_irreversible",
    "restricted_api_keys",
    "sender_pool_limits",
    "status_callback_required",
]
