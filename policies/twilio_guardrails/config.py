"""Configuration shared by the rules: schema fragments, defaults and how a rule reads its
settings.

The CLI validates `--policy-pack-config` against each rule's `config_schema` and fills in
the defaults; a run without a config file (or a unit test) gets the same defaults from
`settings()`. Enforcement levels are not schema properties: each config file sets them per
rule (`"enforcementLevel"`), and the rules' own level is MANDATORY so an unconfigured run is
strict.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from pulumi_policy import PolicyConfigSchema

# The environments a stack file can declare. An enum rather than free text: a typo in a
# guardrail's config ("prodution") would otherwise switch the guardrail off silently.
ENVIRONMENTS: Final = ("development", "staging", "production")
PRODUCTION: Final = "production"

# The rules that no stack may relax (the "mandatory everywhere").
MANDATORY_EVERYWHERE: Final = frozenset(
    {"no-sending-from-parent", "one-messaging-service-per-use-case"}
)


def environments(description: str, default: list[str]) -> dict[str, Any]:
    """A JSON-schema property: a list of environment names."""
    return {
        "type": "array",
        "items": {"type": "string", "enum": list(ENVIRONMENTS)},
        "uniqueItems": True,
        "default": default,
        "description": description,
    }


def allow_loopback_in() -> dict[str, Any]:
    return environments(
        "Environments whose webhooks may use plain http to a loopback host (127.0.0.1, "
        "localhost, ::1): the local emulator and collector. Everywhere else webhooks are HTTPS.",
        [],
    )


def schema(**properties: dict[str, Any]) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties=properties)


def settings(config_schema: PolicyConfigSchema | None, config: Mapping[str, Any]) -> dict:
    """The rule's settings: its config with every schema default filled in."""
    values: dict[str, Any] = {}
    for name, spec in (config_schema.properties if config_schema else {}).items():
        if name in config:
            values[name] = config[name]
        elif "default" in spec:
            values[name] = copy.deepcopy(spec["default"])
    return values


def listing(values: list[str] | tuple[str, ...]) -> str:
    """`a, b` for messages; `none` when empty."""
    return ", ".join(values) if values else "none"
