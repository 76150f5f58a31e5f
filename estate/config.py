"""The audit's settings: each rule's level and the pack rules' settings, in the policy pack's
own config-file format (`{"<rule>": {"enforcementLevel": ..., <setting>: ...}}`).

The defaults judge an existing account the way the landing zone's dev config judges a stack,
with two differences that fit an account rather than one stack: every environment is expected
(isolated-environments), and Twilio's auto-generated default services are not required to have
a status callback (most legacy accounts never send through them; sending from the parent is
its own finding). `--config policies/config/prod.json` applies a stack's own file instead,
merged rule by rule over these defaults.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from estate.findings import DISABLED, MANDATORY, RULES

LEVEL_KEY: Final = "enforcementLevel"
LEVELS: Final = (MANDATORY, "advisory", DISABLED)
_LOOPBACK_DEV: Final = ["development", "staging"]

DEFAULT_CONFIG: Final[dict[str, dict[str, Any]]] = {
    "no-sending-from-parent": {LEVEL_KEY: MANDATORY},
    "parent-sending-history": {LEVEL_KEY: "advisory"},
    "parent-sent-messages": {LEVEL_KEY: MANDATORY},
    "one-messaging-service-per-use-case": {LEVEL_KEY: MANDATORY},
    "isolated-environments": {
        LEVEL_KEY: "advisory",
        "environments": ["development", "staging", "production"],
        "style": "direct",
    },
    "declared-use-case": {LEVEL_KEY: "advisory"},
    "number-in-no-service": {LEVEL_KEY: "advisory"},
    "status-callback-required": {
        LEVEL_KEY: "advisory",
        "allow_loopback_in": _LOOPBACK_DEV,
        "include_default_service": False,
    },
    "https-webhooks": {LEVEL_KEY: "advisory", "allow_loopback_in": _LOOPBACK_DEV},
    "sender-pool-limits": {LEVEL_KEY: "advisory", "max_senders": 400},
    "no-api-key": {LEVEL_KEY: "advisory"},
    "restricted-api-keys": {
        LEVEL_KEY: "advisory",
        "allowed_kinds": ["standard", "restricted"],
        "require_restricted_in": ["production"],
    },
    "unreadable-account": {LEVEL_KEY: "advisory"},
}

# Pack rules that judge what an audit cannot read (Pulumi resource options): accepted in a
# pack config file, and ignored.
IGNORED_PACK_RULES: Final = frozenset({"protect-irreversible"})


class ConfigError(Exception):
    """A config file the audit cannot use (one line, naming the file and the field)."""


@dataclass(frozen=True)
class AuditConfig:
    """Each rule's entry in the pack's format: `{"enforcementLevel": ..., <setting>: ...}`."""

    entries: dict[str, dict[str, Any]]

    @property
    def levels(self) -> dict[str, str]:
        return {rule: str(entry[LEVEL_KEY]) for rule, entry in self.entries.items()}

    def pack_config(self, pack_rules: list[str]) -> dict[str, dict[str, Any]]:
        """The entries of the pack's rules, as a pack config file would give them."""
        return {rule: dict(self.entries[rule]) for rule in pack_rules if rule in self.entries}


def load_config(path: str | Path | None = None) -> AuditConfig:
    """The defaults, with a config file's rules merged over them when one is given."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    if path is None:
        return AuditConfig(config)
    try:
        loaded = json.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    except ValueError as error:
        raise ConfigError(f"{path}: is not JSON ({error})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: must be a JSON object of rule names")
    for rule, entry in loaded.items():
        if rule in IGNORED_PACK_RULES:
            continue
        if rule not in RULES:
            raise ConfigError(f"{path}: {rule}: is not a rule (rules: {', '.join(RULES)})")
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {rule}: must be an object")
        level = entry.get(LEVEL_KEY, config[rule][LEVEL_KEY])
        if level == "remediate":  # the pack's level that fixes as it goes: as strict as mandatory
            level = MANDATORY
        if level not in LEVELS:
            raise ConfigError(
                f"{path}: {rule}.{LEVEL_KEY}: {level!r} is not one of {', '.join(LEVELS)}"
            )
        config[rule] = {**config[rule], **entry, LEVEL_KEY: level}
    return AuditConfig(config)
