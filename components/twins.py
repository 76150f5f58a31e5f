"""Twins a lost answer had left and a create removed: named in the run's output.

Providers cannot print to `pulumi up`; they return the SIDs and the moment in the resource's
`removed_twins` output, and the program reports them in one warning per run. State keeps the
output, so later runs would see it again: only a removal made moments ago, by this run, is
reported. One wait over every resource's output, not one per resource: the SDK's cost grows
with the outputs a program waits on (components/sdk_overhead.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import pulumi

# A removal this recent was made by the create of this run (state outputs are older).
JUST_NOW_SECONDS = 120.0


def removed_just_now(records: Sequence[dict | None], now: float) -> list[str]:
    return sorted(
        sid
        for record in records
        if record and now - float(record.get("at") or 0) < JUST_NOW_SECONDS
        for sid in record.get("sids") or []
    )


class RemovesTwins(Protocol):
    """A resource whose create may find and remove twins (Subaccount, ApiKey, ...)."""

    removed_twins: pulumi.Output[dict | None]


def report_removed_twins(resources: Sequence[RemovesTwins]) -> None:
    if pulumi.runtime.is_dry_run() or not resources:
        return  # a preview creates nothing, so it removes nothing

    def warn(records: list[dict | None]) -> None:
        sids = removed_just_now(records, time.time())
        if sids:
            pulumi.log.warn(
                f"removed {len(sids)} twin(s) that lost Twilio answers had left: " + ", ".join(sids)
            )

    pulumi.Output.all(*[resource.removed_twins for resource in resources]).apply(warn)
