"""The whole stack config as the Pulumi SDK holds it, for validating the stack file up front.

The SDK's public API reads config one key at a time (`pulumi.Config`); validating the stack
file needs every key of it (an unknown key is named with a suggestion, a secret where a plain
value belongs is refused). The SDK holds what the language host handed the program in
`pulumi.runtime.config.CONFIG`, a private variable, on top of the engine's `PULUMI_CONFIG`
environment that `pulumi.runtime.get_config_env()` reads publicly.

Reading that private variable follows the project's pattern for a third-party internal: a
version guard (the SDK release requirements.txt pins); on any other release the stock public
reading (`get_config_env()`, what the engine hands every program) with a warning; a test that
fails on an upgrade and one that proves the effect (tests/unit/components/test_sdk_config.py).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import pulumi
import pulumi.runtime

# The SDK release whose private config variable this reads (requirements.txt pins it).
CHECKED_SDK_VERSION = "3.272.0"

_warned = False


def private_config_is_readable(sdk_version: str | None = None) -> bool:
    """True on the checked SDK; otherwise False, with one warning per process."""
    global _warned
    found = sdk_version or version("pulumi")
    if found == CHECKED_SDK_VERSION:
        return True
    if not _warned:
        _warned = True
        pulumi.log.warn(
            f"pulumi SDK {found} is not the checked {CHECKED_SDK_VERSION}: "
            "components/sdk_config.py reads only the engine's PULUMI_CONFIG (re-check it, "
            "then update the pin)"
        )
    return False


def stack_config_values() -> dict[str, Any]:
    """Every config key of the running stack with its value (secrets decrypted)."""
    values = dict(pulumi.runtime.get_config_env())
    if private_config_is_readable():
        from pulumi.runtime import config as runtime_config

        values.update(runtime_config.CONFIG.get())
    return values


def secret_config_keys(values: dict[str, Any]) -> tuple[str, ...]:
    """The keys among `values` that the stack holds as secrets."""
    keys = [key for key in values if pulumi.runtime.is_config_secret(key)]
    keys += pulumi.runtime.get_config_secret_keys_env()
    return tuple(keys)
