"""The stack's exports built flat (components/flat_outputs.py) are what the nested `Output.all`
construction they replaced resolved to: same value, same known-ness and secrecy, same
resources, for the shipped stacks, a tenant without keys and a preview with unknown SIDs."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest

from components.flat_outputs import all_named
from tests.unit.components.test_landing_zone import everything
from tests.unit.components.test_name_map import NumberedMocks


class PreviewableMocks(NumberedMocks):
    """The name map's mocks; with `unknown_sids` a preview where the engine knows no SID yet."""

    def __init__(self, unknown_sids: bool = False) -> None:
        super().__init__()
        self.unknown_sids = unknown_sids

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        name, outputs = super().new_resource(args)
        if self.unknown_sids:
            outputs.pop("sid", None)
        return name, outputs


# --- the construction the flat exports replaced (the code before, verbatim in effect) -------


def nested_summary(zone) -> pulumi.Output[dict]:
    return pulumi.Output.all(
        **{
            key: pulumi.Output.all(
                subaccount_sid=tenant.subaccount.sid,
                api_key_sids=pulumi.Output.all(
                    **{name: api_key.sid for name, api_key in tenant.api_keys.items()}
                ),
                service_sids=pulumi.Output.all(
                    **{
                        use_case: messaging.service.sid
                        for use_case, messaging in tenant.messaging.items()
                    }
                ),
            )
            for key, tenant in zone.tenants.items()
        }
    )


def nested_api_key_secrets(zone) -> pulumi.Output[dict]:
    return pulumi.Output.secret(
        pulumi.Output.all(
            **{
                key: pulumi.Output.all(
                    **{name: api_key.secret for name, api_key in tenant.api_keys.items()}
                )
                for key, tenant in zone.tenants.items()
            }
        )
    )


def nested_name_map(plan, tenants) -> pulumi.Output[dict]:
    from components.name_map import DEFAULT_SERVICE_USE_CASE, _entry

    def pair(sid, entry):
        return sid.apply(lambda value: (value, entry))

    pairs = []
    for account in plan.accounts:
        tenant = tenants[account.account_key]
        pairs.append(
            pair(
                tenant.subaccount.sid,
                _entry(account, plan, "subaccount", logical_name=account.logical_name),
            )
        )
        if tenant.delivery.default_service is not None:
            pairs.append(
                pair(
                    tenant.delivery.default_service.sid,
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
                pair(
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
                    pulumi.Output.all(resource.sid, resource.number).apply(
                        lambda values, entry=entry: (
                            values[0],
                            {**entry, "phone_number": values[1]},
                        )
                    )
                )
    return pulumi.Output.all(*pairs).apply(
        lambda resolved: {
            sid: entry for sid, entry in resolved if sid and not sid.startswith("none")
        }
    )


# --- the comparison ----------------------------------------------------------------------------


async def _state(output: pulumi.Output) -> tuple[Any, bool, bool, set[str]]:
    data = await output._data  # value, known-ness, secrecy and resources as the SDK holds them
    urns = {await resource.urn.future() for resource in data.resources}
    return data.value if data.is_known else None, data.is_known, data.is_secret, urns


def _register(stack: str, *, preview: bool, unknown_sids: bool, drop_keys: bool = False):
    from architecture import build_plan, load_stack_config
    from components.landing_zone import LandingZone, LandingZoneArgs
    from tests.unit.components.test_landing_zone import REPO

    pulumi.runtime.set_mocks(
        PreviewableMocks(unknown_sids), project="twilio-landing-zone", stack=stack, preview=preview
    )
    plan = build_plan(load_stack_config(REPO / f"Pulumi.{stack}.yaml"))
    zone = LandingZone("landing-zone", LandingZoneArgs(plan=plan))
    if drop_keys:  # a tenant with no API keys: the SDK's `Output.all()` of nothing is a list
        next(iter(zone.tenants.values())).api_keys = {}
    return plan, zone


CASES = [
    ("dev", False, False, False),
    ("prod", False, False, False),
    ("prod", False, False, True),
    ("prod", True, True, False),
]


@pytest.mark.parametrize(("stack", "preview", "unknown_sids", "drop_keys"), CASES)
@pulumi.runtime.test
def test_flat_exports_resolve_as_the_nested_ones_did(
    stack: str, preview: bool, unknown_sids: bool, drop_keys: bool
):
    plan, zone = _register(stack, preview=preview, unknown_sids=unknown_sids, drop_keys=drop_keys)
    pairs = [
        (zone.summary(), nested_summary(zone)),
        (zone.api_key_secrets(), nested_api_key_secrets(zone)),
        (zone.name_map(), nested_name_map(plan, zone.tenants)),
    ]

    async def compare() -> None:
        for flat, nested in pairs:
            assert await _state(flat) == await _state(nested)
        if not unknown_sids:
            summary = (await zone.summary()._data).value
            assert summary and all(entry["subaccount_sid"] for entry in summary.values())
        else:
            assert not (await zone.summary()._data).is_known

    done = asyncio.ensure_future(compare())
    return pulumi.Output.all(everything(zone), pulumi.Output.from_input(done))


def test_all_named_is_what_output_all_gives_for_named_inputs():
    async def resolved(**values: Any) -> Any:
        return (await pulumi.Output.all(**values)._data).value

    assert asyncio.run(resolved()) == all_named({}) == []
    assert asyncio.run(resolved(a="x", b=None)) == all_named({"a": "x", "b": None})
