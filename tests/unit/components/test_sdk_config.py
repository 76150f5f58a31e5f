"""components/sdk_config.py reads the SDK's private config variable on the checked release only:
the pin is held here, and both sides of the guard are shown doing what they say."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pulumi
import pulumi.runtime
import pytest

from components import sdk_config

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_the_installed_sdk_is_the_one_the_read_was_checked_against() -> None:
    assert version("pulumi") == sdk_config.CHECKED_SDK_VERSION, (
        "the pulumi SDK changed: re-check components/sdk_config.py against "
        "pulumi.runtime.config.CONFIG, then update CHECKED_SDK_VERSION"
    )
    pin = re.search(r"^pulumi==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    assert pin and pin.group(1) == sdk_config.CHECKED_SDK_VERSION


@pytest.fixture
def handed_config(monkeypatch: pytest.MonkeyPatch):
    """Config as a language host hands it over (set_all_config), plus the engine's env."""
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"proj:fromEnv": "env"}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["proj:envSecret"]))
    pulumi.runtime.set_all_config({"proj:handed": "host", "proj:token": "s3"}, ["proj:token"])
    monkeypatch.setattr(sdk_config, "_warned", False)
    yield
    pulumi.runtime.set_all_config({}, [])


def test_on_the_checked_sdk_every_key_handed_over_is_read(handed_config) -> None:
    values = sdk_config.stack_config_values()
    assert values == {"proj:fromEnv": "env", "proj:handed": "host", "proj:token": "s3"}
    assert set(sdk_config.secret_config_keys(values)) == {"proj:token", "proj:envSecret"}


def test_on_another_sdk_only_the_public_env_is_read_with_one_warning(
    handed_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdk_config, "version", lambda _name: "999.0.0")
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", warnings.append)
    assert sdk_config.stack_config_values() == {"proj:fromEnv": "env"}
    assert sdk_config.stack_config_values() == {"proj:fromEnv": "env"}
    assert len(warnings) == 1
    assert "pulumi SDK 999.0.0 is not the checked" in warnings[0]
