"""restricted-api-keys: standard or restricted keys in subaccounts, restricted where required."""

from __future__ import annotations

import pytest

from tests.policies.harness import (
    SEND_PERMISSION,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_STRING_VALUE,
    api_key,
    check_stack,
    subaccount,
)
from twilio_guardrails.keys import restricted_api_keys

PROD = subaccount("acme", "production")
DEV = subaccount("lab", "development")


def test_restricted_keys_in_subaccounts_pass() -> None:
    estate = [PROD, DEV, api_key("acme"), api_key("lab", kind="standard", permissions=())]
    assert check_stack(restricted_api_keys, estate) == []


def test_a_key_on_the_parent_is_left_to_no_sending_from_parent() -> None:
    # That rule is mandatory everywhere; this one may be advisory in dev.
    assert check_stack(restricted_api_keys, [PROD, api_key("parent", "ops")]) == []


def test_a_standard_key_in_production_fails() -> None:
    key = api_key("acme", kind="standard", permissions=())
    [violation] = check_stack(restricted_api_keys, [PROD, key])
    assert violation.message == (
        "ApiKey 'acme-key-backend' (subaccount 'acme', production) is a 'standard' key, which can "
        "use every API of its subaccount; keys in production are restricted: set kind "
        "'restricted' and list the permissions the app needs (e.g. "
        "/twilio/messaging/messages/create)."
    )


def test_where_restricted_keys_are_required_is_configurable() -> None:
    estate = [DEV, api_key("lab", kind="standard", permissions=())]
    config = {"require_restricted_in": ["development", "production"]}
    [violation] = check_stack(restricted_api_keys, estate, config)
    assert "keys in development are restricted" in violation.message


@pytest.mark.parametrize("kind", ["main", "standard"])
def test_kinds_outside_allowed_kinds_fail(kind: str) -> None:
    estate = [DEV, api_key("lab", kind=kind, permissions=())]
    [violation] = check_stack(restricted_api_keys, estate, {"allowed_kinds": ["restricted"]})
    assert violation.message == (
        f"ApiKey 'lab-key-backend' (subaccount 'lab', development) is a '{kind}' key; apps get "
        "restricted keys: change its kind."
    )


def test_a_main_key_is_never_allowed_by_default() -> None:
    [violation] = check_stack(restricted_api_keys, [DEV, api_key("lab", kind="main")])
    assert "apps get standard or restricted keys" in violation.message


def test_a_restricted_key_without_permissions_fails() -> None:
    [violation] = check_stack(restricted_api_keys, [PROD, api_key("acme", permissions=())])
    assert "is restricted to nothing: list the permissions" in violation.message


def test_unknown_values_are_left_for_up() -> None:
    estate = [
        PROD,
        api_key(UNKNOWN_STRING_VALUE, "a"),
        api_key("acme", "b", kind=UNKNOWN_STRING_VALUE),
        api_key("acme", "c", permissions=UNKNOWN_ARRAY_VALUE),
        api_key("acme", "d", permissions=[UNKNOWN_STRING_VALUE, SEND_PERMISSION]),
    ]
    assert check_stack(restricted_api_keys, estate) == []
