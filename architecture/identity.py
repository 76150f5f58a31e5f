"""Logical names of everything the landing zone creates: the Pulumi resource names.

They derive from the immutable tenant key so a rename (display_name) never replaces anything.
The identity tag that goes into each object's FriendlyName is in `identity_tags` (shared with
the providers).
"""

from __future__ import annotations


def account_logical_name(tenant_key: str) -> str:
    return tenant_key


def api_key_logical_name(tenant_key: str, key_name: str) -> str:
    return f"{tenant_key}-key-{key_name}"


def service_logical_name(tenant_key: str, use_case: str) -> str:
    return f"{tenant_key}-svc-{use_case}"


def sender_pool_logical_name(tenant_key: str, use_case: str) -> str:
    return f"{service_logical_name(tenant_key, use_case)}-pool"


def phone_number_logical_name(tenant_key: str, use_case: str, position: int) -> str:
    """A searched number: its 1-based position in its service's search."""
    return f"{tenant_key}-num-{use_case}-{position}"


def exact_number_logical_name(tenant_key: str, e164: str) -> str:
    """An exact number is named by its digits alone: removing one from a list does not rename
    the others, and moving it to another service of the tenant keeps the same resource (and
    the same number), instead of a release and a purchase."""
    return f"{tenant_key}-num-{e164.lstrip('+')}"
