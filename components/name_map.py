"""The `names` stack output: SID -> what the stack declared (tenant, display name,
environment, use case, logical name), for tools that report on Twilio's data.

Identity tags are one-way hashes, so this map is the only way back from a SID to a tenant.
The collector reads it from `pulumi stack output --json` (it never imports this program nor
reads state). No secrets: SIDs and declared names only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pulumi

from architecture.planner import Plan, PlannedAccount

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


def _pair(sid: pulumi.Output[str], entry: dict[str, Any]) -> pulumi.Output[tuple[str, dict]]:
    return sid.apply(lambda value: (value, entry))


def name_map(plan: Plan, tenants: dict[str, Tenant]) -> pulumi.Output[dict[str, dict]]:
    pairs: list[pulumi.Output[tuple[str, dict]]] = []
    for account in plan.accounts:
        tenant = tenants[account.account_key]
        pairs.append(
            _pair(
                tenant.subaccount.sid,
                _entry(account, plan, "subaccount", logical_name=account.logical_name),
            )
        )
        default_service = tenant.delivery.default_service
        if default_service is not None:  # None: an adopted account's, left as found
            pairs.append(
                _pair(
                    default_service.sid,
                    _entry(
                        account,
                        plan,
                        "default_service",
                        use_case=DEFAULT_SERVICE_USE_CASE,
                        logical_name=f"{account.logical_name}-default-service",
                    ),
                )
            )
        for service in account.services:
            messaging = tenant.messaging[service.use_case]
            pairs.append(
                _pair(
                    messaging.service.sid,
                    _entry(
                        account,
                        plan,
                        "service",
                        use_case=service.use_case,
                        logical_name=service.logical_name,
                    ),
                )
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
                pairs.append(
                    pulumi.Output.all(resource.sid, resource.number).apply(_with_number(entry))
                )
    return pulumi.Output.all(*pairs).apply(
        lambda resolved: {
            sid: entry for sid, entry in resolved if sid and not sid.startswith(_NO_DEFAULT_SERVICE)
        }
    )


def _with_number(entry: dict[str, Any]) -> Callable[[list[Any]], tuple[Any, dict[str, Any]]]:
    """(SID, entry with the number Twilio gave) from a resolved (sid, number) pair."""
    return lambda values: (values[0], {**entry, "phone_number": values[1]})
