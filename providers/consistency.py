"""Twilio's reads lag behind its writes: a fetch right after a create may answer 404 for a
while. Reads of objects we just made wait that out instead of concluding they are gone."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from twilio_access.consistency import settle

T = TypeVar("T")

# An object created this long ago or less may still read as 404; an older one that 404s is gone.
RECENT_SECONDS = 60.0


def read_settled(call: Callable[[], T], props: dict) -> T:
    """Fetch an object we manage: waited out if we created it moments ago (its `created_at`
    output), taken at its word otherwise."""
    recent = time.time() - float(props.get("created_at") or 0) < RECENT_SECONDS
    return settle(call) if recent else call()
