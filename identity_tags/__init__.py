"""Identity tags and state marks: how an object in Twilio says which declared object it is and
which Pulumi state made it. Pure (no Pulumi, no Twilio): the planner (architecture), the
providers and the tests all import it from here, so neither reaches into the other.

The identity tag is a short hash of project, stack,
tenant key and logical name, embedded in the object's Twilio FriendlyName, so a provider can find
and adopt an object whose create outcome it never saw (timeout, killed run, skipped checkpoint)
instead of creating a twin.

What a create records in Twilio also carries the state mark of the Pulumi state that made it
(`[tlz:3f9a0c12de:5b1c0e]`): a short hash of that state's identity (backend, organization,
project, stack; components/state_identity.py). The tag says which declared object it is, the
mark which state made it, so a second state with the same stack name never adopts, or
deletes, what the first one manages.
"""

from __future__ import annotations

import hashlib
import re

TAG_NAMESPACE = "tlz"
TAG_LENGTH = 10
STATE_MARK_LENGTH = 6
FRIENDLY_NAME_LIMIT = 64

_TAG_PATTERN = re.compile(
    rf"\[{TAG_NAMESPACE}:([0-9a-f]{{{TAG_LENGTH}}})(?::([0-9a-f]{{{STATE_MARK_LENGTH}}}))?\]"
)
_BARE_TAG = re.compile(rf"[0-9a-f]{{{TAG_LENGTH}}}")
_BARE_MARK = re.compile(rf"[0-9a-f]{{{STATE_MARK_LENGTH}}}")
# Room kept in every planned name for the state mark that create adds (`:5b1c0e`).
_MARK_ROOM = 1 + STATE_MARK_LENGTH
# Joins the tag's inputs; no project, stack, key or logical name can contain it, so
# ("a-b", "c") and ("a", "b-c") never hash alike.
_SEPARATOR = "\x1f"


def identity_tag(project: str, stack: str, tenant_key: str, logical_name: str) -> str:
    """The bare tag (10 lowercase hex characters) of one object."""
    material = _SEPARATOR.join((project, stack, tenant_key, logical_name))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:TAG_LENGTH]


def render_tag(tag: str) -> str:
    """The tag as it appears in a FriendlyName: `[tlz:3f9a0c12de]`."""
    if not _BARE_TAG.fullmatch(tag):
        raise ValueError(f"{tag!r} is not an identity tag ({TAG_LENGTH} lowercase hex characters)")
    return f"[{TAG_NAMESPACE}:{tag}]"


def friendly_name(human: str, tag: str) -> str:
    """`<human> [tlz:<tag>]`, at most 64 characters: the human part is cut, never the tag."""
    rendered = render_tag(tag)
    room = FRIENDLY_NAME_LIMIT - len(rendered) - _MARK_ROOM - 1
    text = " ".join(human.split())[:room].rstrip()
    return f"{text} {rendered}" if text else rendered


def parse_tag(friendly_name: str | None) -> str | None:
    """The bare tag embedded in a FriendlyName (the last one if edited in twice), else None."""
    if not friendly_name:
        return None
    found = _TAG_PATTERN.findall(friendly_name)
    return found[-1][0] if found else None


def parse_state_mark(friendly_name: str | None) -> str | None:
    """The state mark inside the (last) tag of a FriendlyName, else None."""
    if not friendly_name:
        return None
    found = _TAG_PATTERN.findall(friendly_name)
    return (found[-1][1] or None) if found else None


def state_mark(state_identity: str) -> str:
    """The short mark of one Pulumi state's identity, as friendly names carry it."""
    return hashlib.sha256(state_identity.encode("utf-8")).hexdigest()[:STATE_MARK_LENGTH]


def with_state_mark(friendly_name: str, mark: str | None) -> str:
    """The name as create records it in Twilio: the tag gains the state's mark. Planned
    names keep room for it, so nothing else of the name changes."""
    if not mark:
        return friendly_name
    if not _BARE_MARK.fullmatch(mark):
        raise ValueError(f"{mark!r} is not a state mark ({STATE_MARK_LENGTH} lowercase hex)")
    matches = list(_TAG_PATTERN.finditer(friendly_name))
    if not matches:
        return friendly_name
    last = matches[-1]
    marked = f"[{TAG_NAMESPACE}:{last.group(1)}:{mark}]"
    return friendly_name[: last.start()] + marked + friendly_name[last.end() :]


def without_state_mark(friendly_name: str | None) -> str | None:
    """The name as planned (what state records): Twilio's name without the state mark."""
    if not friendly_name:
        return friendly_name
    return _TAG_PATTERN.sub(lambda m: f"[{TAG_NAMESPACE}:{m.group(1)}]", friendly_name)
