"""The landing zone: every tenant a stack declares, built from the plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from architecture.planner import Plan
from components.flat_outputs import all_named, gathered
from components.name_map import name_map
from components.tenant import Tenant, TenantArgs
from components.twins import RemovesTwins, report_removed_twins


@dataclass(frozen=True)
class LandingZoneArgs:
    plan: Plan
    # The mark of the Pulumi state this run belongs to, recorded in Twilio by every create
    # (components/state_identity.py); None records none.
    state_mark: str | None = None


class LandingZone(pulumi.ComponentResource):
    tenants: dict[str, Tenant]

    def __init__(
        self, name: str, args: LandingZoneArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tlz:index:LandingZone", name, None, opts)
        plan = args.plan
        self._plan = plan
        self.tenants = {
            account.account_key: Tenant(
                account.account_key,
                TenantArgs(
                    account=account,
                    project=plan.project,
                    stack=plan.stack,
                    state_mark=args.state_mark,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for account in plan.accounts
        }
        report_removed_twins(self.created_objects())
        self.register_outputs({"tenants": sorted(self.tenants)})

    def created_objects(self) -> list[RemovesTwins]:
        """Every resource whose create may find and remove twins."""
        found: list[RemovesTwins] = []
        for tenant in self.tenants.values():
            found += [tenant.subaccount, *tenant.api_keys.values()]
            for messaging in tenant.messaging.values():
                found += [messaging.service, *messaging.numbers.values()]
        return found

    def summary(self) -> pulumi.Output[dict]:
        """Per tenant: subaccount, key and service SIDs (no secrets)."""
        tenants = list(self.tenants.items())
        sids: list[pulumi.Output[str]] = []
        for _, tenant in tenants:
            sids.append(tenant.subaccount.sid)
            sids += [api_key.sid for api_key in tenant.api_keys.values()]
            sids += [messaging.service.sid for messaging in tenant.messaging.values()]

        def nest(values: list[Any]) -> Any:
            resolved = iter(values)
            return all_named(
                {
                    key: {
                        "subaccount_sid": next(resolved),
                        "api_key_sids": all_named(
                            {name: next(resolved) for name in tenant.api_keys}
                        ),
                        "service_sids": all_named(
                            {use_case: next(resolved) for use_case in tenant.messaging}
                        ),
                    }
                    for key, tenant in tenants
                }
            )

        return gathered(sids, nest)

    def name_map(self) -> pulumi.Output[dict]:
        """SID -> tenant, display name, environment, use case, logical name (no secrets)."""
        return name_map(self._plan, self.tenants)

    def api_key_secrets(self) -> pulumi.Output[dict]:
        """Per tenant and key name, the key's secret (a secret output)."""
        tenants = list(self.tenants.items())
        secrets = [api_key.secret for _, tenant in tenants for api_key in tenant.api_keys.values()]

        def nest(values: list[Any]) -> Any:
            resolved = iter(values)
            return all_named(
                {
                    key: all_named({name: next(resolved) for name in tenant.api_keys})
                    for key, tenant in tenants
                }
            )

        return pulumi.Output.secret(gathered(secrets, nest))
