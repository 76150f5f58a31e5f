"""Find-and-adopt: how a create that may already have happened avoids making a twin.

Every object we create carries its identity tag in its FriendlyName (architecture.identity).
A create first looks for that tag; a retried create, a run killed after Twilio answered, or a
run without per-step checkpoints all find the object instead of making another one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from architecture.identity import parse_tag
from providers.created_here import CREATED_HERE
from providers.transport import UnknownOutcomeError

T = TypeVar("T")

# How many times a create whose outcome was lost is looked up and tried again.
CREATE_ATTEMPTS = 4


def tagged(records: Iterable[T], tag: str, name_of: Callable[[T], str | None]) -> list[T]:
    return [record for record in records if parse_tag(name_of(record)) == tag]


def create_once(
    find: Callable[[], T | None],
    create: Callable[[], T],
    *,
    inside: str | None = None,
) -> tuple[T, bool]:
    """Adopt what `find` returns, else `create`. A create whose answer was lost is followed
    by another look before trying again. Returns (object, adopted).

    `inside`: the SID of the subaccount or service the object lives in. When this process
    created that container itself, nothing of ours can be in it yet, so the first look is
    skipped (see providers/created_here.py). What is created is recorded the same way."""
    for attempt in range(CREATE_ATTEMPTS):
        if attempt > 0 or inside is None or inside not in CREATED_HERE:
            found = find()
            if found is not None:
                return found, True
        try:
            created = create()
            CREATED_HERE.add(created.sid)
            return created, False
        except UnknownOutcomeError:
            if attempt + 1 == CREATE_ATTEMPTS:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
