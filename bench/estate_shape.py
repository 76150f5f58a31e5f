"""The benchmark's estate: N ISV customers of the shipped shape, as a validated stack file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from architecture import build_plan, load_stack_config

PROJECT = "twilio-landing-zone"
PASSPHRASE = "twilio-landing-zone-bench"
COLLECTOR_URL = "https://hooks.example.com/twilio/status"
# The emulator's US area codes with local numbers (its inventory; the benchmark reaches the
# emulator over HTTP only, and tests/unit/test_emulator_boundary.py holds the two lists equal).
US_AREA_CODES = (
    "415", "510", "650", "212", "646", "312", "617", "206", "512", "305", "404", "303", "808",
)  # fmt: skip
USE_CASES = ("notifications", "verification")
# Twilio objects per customer the program manages: subaccount, its default service, 2 keys,
# 2 services, 2 sender pools, 4 numbers.
OBJECTS_PER_CUSTOMER = 12


# --- the estate -----------------------------------------------------------------------------


def customer_keys(count: int) -> list[str]:
    return [f"customer-{index:04d}" for index in range(1, count + 1)]


def area_code_of(key: str) -> str:
    return US_AREA_CODES[int(key.rsplit("-", 1)[1]) % len(US_AREA_CODES)]


def tenant(key: str) -> dict[str, Any]:
    number = key.rsplit("-", 1)[1]
    return {
        "key": key,
        "display_name": f"Customer {number}",
        "environment": "production",
        "role": "customer",
        "api_keys": [
            # Production keys are restricted (the model refuses a standard one there).
            {
                "name": "backend",
                "kind": "restricted",
                "permissions": ["/twilio/messaging/messages/create"],
            },
            {
                "name": "reporting",
                "kind": "restricted",
                "permissions": ["/twilio/messaging/messages/read"],
            },
        ],
        "services": [
            {
                "use_case": use_case,
                "webhooks": {"status_callback": "collector"},
                "senders": {
                    "phone_numbers": {
                        "count": 2,
                        "country": "US",
                        "area_code": area_code_of(key),
                        # Decommissioning: lets `destroy` release the numbers (see the docstring).
                        "release_on_delete": True,
                    }
                },
            }
            for use_case in USE_CASES
        ],
    }


def stack_document(keys: Sequence[str]) -> dict[str, Any]:
    return {
        "config": {
            f"{PROJECT}:collectorUrl": COLLECTOR_URL,
            f"{PROJECT}:architecture": {
                "style": "isv",
                "environments": ["production"],
                "tenants": [tenant(key) for key in keys],
            },
        }
    }


def write_stack_file(project_dir: Path, stack: str, keys: Sequence[str]) -> Path:
    """Pulumi.<stack>.yaml for these customers, validated as `pulumi up` would validate it."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    header = f"# ISV production estate, {len(keys)} customers (bench/estate.py).\n"
    path.write_text(header + yaml.safe_dump(stack_document(keys), sort_keys=False))
    settings = load_stack_config(path, PROJECT)
    counts = build_plan(settings).counts
    assert counts.accounts == len(keys) and counts.phone_numbers == 4 * len(keys), counts
    return path


def groups_of(keys: Sequence[str], groups: int) -> list[list[str]]:
    """Contiguous customer groups of (nearly) equal size."""
    groups = max(1, min(groups, len(keys)))
    size, extra = divmod(len(keys), groups)
    result, start = [], 0
    for index in range(groups):
        end = start + size + (1 if index < extra else 0)
        result.append(list(keys[start:end]))
        start = end
    return result
