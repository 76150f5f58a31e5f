"""Twins a lost answer had left and a create removed: named in the run's output.

Providers cannot print to `pulumi up`; they return the SIDs and the moment in the resource's
`removed_twins` output, and the program reports them as a warning on that resource. State
keeps the output, so later runs would see it again: only a removal made moments ago, by this
run, is reported.
"""

from __future__ import annotations

import time

import pulumi

# A removal this recent was made by the create of this run (state outputs are older).
JUST_NOW_SECONDS = 120.0


def report_removed_twins(resource: pulumi.CustomResource, kind: str) -> None:
    def warn(record: dict | None) -> None:
        if not record or pulumi.runtime.is_dry_run():
            return
        sids = record.get("sids") or []
        if sids and time.time() - float(record.get("at") or 0) < JUST_NOW_SECONDS:
            pulumi.log.warn(
                f"{kind}: removed {len(sids)} twin(s) that a lost Twilio answer had left: "
                + ", ".join(sids),
                resource=resource,
            )

    resource.removed_twins.apply(warn)
