"""Small valid architectures (fresh dicts on every call) and helpers to read validation results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from architecture import ArchitectureError, StackSettings, load_architecture

REPO_ROOT = Path(__file__).resolve().parents[3]
PROD_COLLECTOR = "https://hooks.example.com/twilio/status"
DEV_COLLECTOR = "http://127.0.0.1:4020/twilio/status"
SEND = "/twilio/messaging/messages/create"


def service(use_case: str = "notifications", **fields: Any) -> dict[str, Any]:
    return {
        "use_case": use_case,
        "webhooks": {"status_callback": "collector"},
        "senders": {"phone_numbers": {"count": 2, "country": "US", "area_code": "415"}},
        **fields,
    }


def tenant(
    key: str = "acme",
    environment: str = "production",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "key": key,
        "display_name": key.replace("-", " ").title(),
        "environment": environment,
        "api_keys": [{"name": "backend", "kind": "restricted", "permissions": [SEND]}],
        "services": [service()],
        **fields,
    }


def isv_production(*tenants: dict[str, Any]) -> dict[str, Any]:
    return {
        "style": "isv",
        "environments": ["production"],
        "tenants": list(tenants) or [tenant()],
    }


def isv_non_production(*tenants: dict[str, Any]) -> dict[str, Any]:
    return {
        "style": "isv",
        "environments": ["development", "staging"],
        "tenants": list(tenants)
        or [tenant("shared-dev", "development"), tenant("shared-staging", "staging")],
    }


def settings_of(
    architecture: dict[str, Any],
    *,
    collector_url: str | None = PROD_COLLECTOR,
    stack: str = "prod",
) -> StackSettings:
    return load_architecture(architecture, stack=stack, collector_url=collector_url)


def problems_of(
    architecture: Any,
    *,
    collector_url: str | None = PROD_COLLECTOR,
    stack: str = "prod",
) -> tuple[str, ...]:
    with pytest.raises(ArchitectureError) as caught:
        load_architecture(architecture, stack=stack, collector_url=collector_url)
    return caught.value.problems


def only_problem(problems: tuple[str, ...], path: str) -> str:
    """The message of the single problem, which must be reported at exactly `path`."""
    assert len(problems) == 1, problems
    prefix = f"{path}: "
    assert problems[0].startswith(prefix), problems
    return problems[0][len(prefix) :]
