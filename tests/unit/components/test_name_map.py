"""The `names` output under Pulumi's mocks: every SID of the estate mapped to what the stack
declared, in the shape the collector reads (`collector.names`), and no secret in it."""

from __future__ import annotations

import pulumi

from collector.names import parse_name_map
from tests.unit.components.test_landing_zone import TWILIO, RecordingMocks, everything


class NumberedMocks(RecordingMocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        name, outputs = super().new_resource(args)
        if args.typ == TWILIO + "PhoneNumber":
            outputs["number"] = f"+1415555{len(self.resources):04d}"
        if args.typ == TWILIO + "DefaultMessagingService":
            outputs["sid"] = "MG" + f"{len(self.resources):032x}"
        return name, outputs


def _register(stack: str):
    from architecture import build_plan, load_stack_config
    from components.landing_zone import LandingZone, LandingZoneArgs
    from tests.unit.components.test_landing_zone import REPO

    mocks = NumberedMocks()
    pulumi.runtime.set_mocks(mocks, project="twilio-landing-zone", stack=stack, preview=False)
    plan = build_plan(load_stack_config(REPO / f"Pulumi.{stack}.yaml"))
    return mocks, plan, LandingZone("landing-zone", LandingZoneArgs(plan=plan))


@pulumi.runtime.test
def test_every_sid_maps_to_its_tenant_use_case_and_logical_name():
    mocks, plan, zone = _register("prod")

    def check(values):
        names = values[1]
        entries, problems = parse_name_map({"names": names}, "output")
        assert problems == []
        subaccounts = {e.tenant: sid for sid, e in entries.items() if e.kind == "subaccount"}
        assert set(subaccounts) == {account.account_key for account in plan.accounts}
        for account in plan.accounts:
            entry = entries[subaccounts[account.account_key]]
            assert (entry.display_name, entry.environment, entry.logical_name) == (
                account.display_name,
                account.environment,
                account.logical_name,
            )
            services = {
                e.use_case: e
                for e in entries.values()
                if e.tenant == account.account_key and e.kind == "service"
            }
            assert set(services) == {s.use_case for s in account.services}
            numbers = [
                e
                for e in entries.values()
                if e.tenant == account.account_key and e.kind == "phone_number"
            ]
            assert len(numbers) == sum(len(s.numbers) for s in account.services)
            assert all(n.phone_number and n.phone_number.startswith("+1") for n in numbers)
        defaults = [e for e in entries.values() if e.kind == "default_service"]
        assert len(defaults) == len(plan.accounts)
        assert {e.use_case for e in defaults} == {"default"}
        created = {
            r.typ.removeprefix(TWILIO)
            for r in mocks.resources
            if r.custom and r.typ.removeprefix(TWILIO) != "ApiKey"
        }
        assert created >= {"Subaccount", "MessagingService", "PhoneNumber"}
        # SIDs and declared names only: no key SID, no secret.
        assert not any(sid.startswith("SK") for sid in names)
        assert "s3cr3t" not in repr(names)

    return pulumi.Output.all(everything(zone), zone.name_map()).apply(check)
