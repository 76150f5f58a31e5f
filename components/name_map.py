"""The `names` stack output: SID -> what the stack declared (tenant, display name,
environment, use case, logical name), for tools that report on Twilio's data.

Identity tags are one-way hashes, so this map is the only way back from a SID to a tenant.
The collector reads it from `pulumi stack output --json` (it never imports this program nor
reads state). No secrets: SIDs and declared names only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi

from architecture.planner import Plan, PlannedAccount
from components.flat_outputs import gathered

if TYPE_CHECKING:
    from components.tenant import Tenant

# The default service of an account that has none is recorded under this placeholder id.
_NO_DEFAULT_SERVICE = "none"
DEFAULT_SERVICE_USE_CASE = "default"


def _entry(account: PlannedAccount, plan: Plan, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "tenant": account.account_key,
        "display_name": account.display_name,
        "environment": account.environment,
        "stack": plan.stack,
        **fields,
    }


def name_map(plan: Plan, tenants: dict[str, Tenant]) -> pulumi.Output[dict[str, dict]]:
    # Each entry's SID (and a number's digits) gathered flat, in order, with what to pair them
    # with: one step for the whole map (components/flat_outputs.py says why).
    outputs: list[pulumi.Output[Any]] = []
    entries: list[tuple[dict[str, Any], bool]] = []  # (entry, followed by its phone number)

    def add(sid: pulumi.Output[str], entry: dict[str, Any], number: Any = None) -> None:
        outputs.append(sid)
        if number is not None:
            outputs.append(number)
        entries.append((entry, number is not None))

    for account in plan.accounts:
        tenant = tenants[account.account_key]
        add(
            tenant.subaccount.sid,
            _entry(account, plan, "subaccount", logical_name=account.logical_name),
        )
        default_service = tenant.delivery.default_service
        if default_service is not None:  # None: an adopted account's, left as found
            add(
                default_service.sid,
                _entry(
                    account,
                    plan,
                    "default_service",
                    use_case=DEFAULT_SERVICE_USE_CASE,
                    logical_name=f"{account.logical_name}-default-service",
                ),
            )
        for service in account.services:
            messaging = tenant.messaging[service.use_case]
            add(
                messaging.service.sid,
                _entry(
                    account,
                    plan,
                    "service",
                    use_case=service.use_case,
                    logical_name=service.logical_name,
                ),
            )
            for number in service.numbers:
                resource = messaging.numbers[number.logical_name]
                entry = _entry(
                    account,
                    plan,
                    "phone_number",
                    use_case=service.use_case,
                    logical_name=number.logical_name,
                )
                add(resource.sid, entry, number=resource.number)

    def pair(values: list[Any]) -> dict[str, dict]:
        resolved = iter(values)
        found: dict[str, dict] = {}
        for entry, with_number in entries:
            sid = next(resolved)
            if with_number:
                entry = {**entry, "phone_number": next(resolved)}
            if sid and not sid.startswith(_NO_DEFAULT_SERVICE):
                found[sid] = entry
        return found

    return gathered(outputs, pair)
