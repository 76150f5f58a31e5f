"""The components under Pulumi's mocks: what the dev and prod stacks register, no engine, no
Twilio. Provider code never runs here; the real CRUD is covered against the emulator."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pulumi
import pytest

from architecture import build_plan, load_stack_config

REPO = Path(__file__).resolve().parents[3]
TWILIO = "pulumi-python:dynamic/twilio:"


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == TWILIO + "Subaccount":
            outputs["sid"] = "AC" + f"{len(self.resources):032x}"
        elif args.typ == TWILIO + "MessagingService":
            outputs["sid"] = "MG" + f"{len(self.resources):032x}"
        elif args.typ == TWILIO + "PhoneNumber":
            outputs["sid"] = "PN" + f"{len(self.resources):032x}"
        elif args.typ == TWILIO + "ApiKey":
            outputs.update(sid="SK" + f"{len(self.resources):032x}", secret="s3cr3t")
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, name: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == TWILIO + name]


def register(stack: str) -> tuple[RecordingMocks, object]:
    from components.landing_zone import LandingZone, LandingZoneArgs

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="twilio-landing-zone", stack=stack, preview=False)
    plan = build_plan(load_stack_config(REPO / f"Pulumi.{stack}.yaml"))
    zone = LandingZone("landing-zone", LandingZoneArgs(plan=plan))
    return mocks, (plan, zone)


def everything(zone) -> pulumi.Output:
    """Resolves once every resource of the landing zone is registered."""
    resources = []
    for tenant in zone.tenants.values():
        resources += [tenant.subaccount, tenant.delivery.default_service]
        resources += list(tenant.api_keys.values())
        for messaging in tenant.messaging.values():
            resources += [messaging.service, messaging.pool, *messaging.numbers.values()]
    return pulumi.Output.all(*(resource.urn for resource in resources))


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pulumi.runtime.test
def test_one_resource_per_planned_object(stack: str):
    mocks, (plan, zone) = register(stack)

    def check(_):
        counts = Counter(r.typ.removeprefix(TWILIO) for r in mocks.resources if r.custom)
        planned = plan.counts
        assert counts["Subaccount"] == planned.accounts
        assert counts["ApiKey"] == planned.api_keys
        assert counts["MessagingService"] == planned.services
        assert counts["SenderPool"] == planned.sender_pools
        assert counts["PhoneNumber"] == planned.phone_numbers
        assert counts["DefaultMessagingService"] == planned.accounts

    return everything(zone).apply(check)


@pulumi.runtime.test
def test_every_service_reports_to_the_collector():
    mocks, (plan, zone) = register("dev")

    def check(_):
        services = mocks.of_type("MessagingService") + mocks.of_type("DefaultMessagingService")
        assert services
        assert {s.inputs["status_callback"] for s in services} == {plan.collector_url}
        assert all(s.inputs["account_key"] != "parent" for s in services)

    return everything(zone).apply(check)


@pulumi.runtime.test
def test_pools_hold_their_services_numbers():
    mocks, (plan, zone) = register("dev")

    def check(_):
        numbers = {r.name: r for r in mocks.of_type("PhoneNumber")}
        for pool in mocks.of_type("SenderPool"):
            service = plan.account(pool.inputs["account_key"])
            planned = next(s for s in service.services if s.use_case == pool.inputs["use_case"])
            assert len(pool.inputs["phone_number_sids"]) == len(planned.numbers)
            assert pool.inputs["service_sid"].startswith("MG")
            assert all(n.logical_name in numbers for n in planned.numbers)
            # A number may move between this tenant's services, never from elsewhere.
            siblings = {s.tag for s in service.services} - {planned.tag}
            assert set(pool.inputs["movable_from_tags"]) == siblings

    return everything(zone).apply(check)


@pulumi.runtime.test
def test_keys_carry_tags_per_generation_and_export_secrets_as_secrets():
    mocks, (_, zone) = register("dev")

    def check(secret_is_marked):
        keys = mocks.of_type("ApiKey")
        assert keys
        for key in keys:
            assert f"[tlz:{key.inputs['tag']}]" in key.inputs["friendly_name"]
            assert len(key.inputs["friendly_name"]) <= 64
        assert secret_is_marked

    is_secret = asyncio.ensure_future(zone.api_key_secrets().is_secret())
    return pulumi.Output.all(everything(zone), pulumi.Output.from_input(is_secret)).apply(
        lambda values: check(values[1])
    )


def test_program_refuses_a_bad_stack_file_before_registering_anything(monkeypatch):
    from components import stack_settings

    bad = {
        "twilio-landing-zone:architecture": {
            "style": "isv",
            "environments": ["development"],
            "tenants": [{"key": "x", "display_name": "X", "environment": "development",
                         "servces": []}],
        }
    }  # fmt: skip
    pulumi.runtime.set_mocks(RecordingMocks(), project="twilio-landing-zone", stack="dev")
    pulumi.runtime.set_all_config({k: json.dumps(v) for k, v in bad.items()})
    errors = []
    monkeypatch.setattr(pulumi.log, "error", errors.append)
    with pytest.raises(SystemExit) as refused:
        stack_settings.load_settings()
    assert refused.value.code == stack_settings.BAIL_EXIT_CODE
    assert "tenants[0].servces" in errors[0]
