"""components/sdk_registration.py replaces private functions of one SDK release: these tests pin
that release and prove the engine sees the same thing either way. The landing zone of the
shipped prod stack, plus resources with secret, dependent and unknown inputs, is registered
twice against a recording resource monitor, once through the SDK's own functions and once
with the replacements: every RegisterResource and RegisterResourceOutputs request must be the
same bytes, and every output the program reads the same value, flags and dependencies, in a
preview (unknown SIDs) and in an update (known SIDs, secrets)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as sdk_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from architecture import build_plan, load_stack_config
from components import sdk_registration
from components.sdk_overhead import CHECKED_SDK_VERSION

REPO_ROOT = Path(__file__).resolve().parents[3]
PROJECT = "twilio-landing-zone"
SECRET_SIG = rpc._special_sig_key
SID_PREFIX = {"Subaccount": "AC", "ApiKey": "SK", "MessagingService": "MG", "PhoneNumber": "PN"}


def test_the_installed_sdk_is_the_one_the_replacements_were_checked_against():
    assert version("pulumi") == CHECKED_SDK_VERSION, (
        "the pulumi SDK changed: re-check components/sdk_registration.py against it "
        "(transfer_properties, serialize_property, contains_unknowns, ContextProperty), "
        "then update CHECKED_SDK_VERSION (components/sdk_overhead.py, shared by both)"
    )
    pin = re.search(r"^pulumi==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    assert pin and pin.group(1) == CHECKED_SDK_VERSION


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


class _NoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        raise AssertionError("the recording monitor answers registrations itself")

    def call(self, args):
        return {}


class RecordingMonitor(sdk_mocks.MockMonitor):
    """Answers as the engine does (outputs = inputs plus what the provider adds; unknown SIDs and
    no id in a preview), built from protobuf alone, and keeps every request's bytes."""

    def __init__(self, preview: bool) -> None:
        super().__init__(_NoMocks())
        self.preview = preview
        self.requests: list[tuple[str, bytes]] = []

    def RegisterResource(self, request):  # the gRPC method's name
        normalized = resource_pb2.RegisterResourceRequest()
        normalized.CopyFrom(request)
        # The SDK sends dependencies from a Python set: their order is not part of the meaning.
        normalized.dependencies[:] = sorted(request.dependencies)
        for deps in normalized.propertyDependencies.values():
            deps.urns[:] = sorted(deps.urns)
        self.requests.append(("register", normalized.SerializeToString(deterministic=True)))
        urn = self.make_urn(request.parent, request.type, request.name)
        if not request.custom:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        outputs = struct_pb2.Struct()
        outputs.CopyFrom(request.object)
        kind = request.type.rsplit(":", 1)[-1]
        # A preview of a partly built estate: subaccounts and numbers exist, the rest is new.
        new = self.preview and kind not in ("Subaccount", "PhoneNumber")
        if kind in SID_PREFIX:
            sid = rpc.UNKNOWN if new else SID_PREFIX[kind] + _digest(request.name)
            outputs["sid"] = sid
        if kind == "ApiKey":
            value = rpc.UNKNOWN if new else f"secret-of-{request.name}"
            outputs["secret"] = {SECRET_SIG: rpc._special_secret_sig, "value": value}
        resource_id = "" if new else f"{request.name}-id"
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=outputs)

    def RegisterResourceOutputs(self, request):
        self.requests.append(("outputs", request.SerializeToString(deterministic=True)))


def _extra_resources(zone: Any) -> list[pulumi.Resource]:
    """Shapes the landing zone's own resources may not all have: a secret input, an input that
    is an output of another resource inside a list and a dict, explicit dependencies, nested
    plain values, a property left out (None)."""
    from providers.messaging_service import MessagingService

    tenant = next(iter(zone.tenants.values()))
    sid = tenant.subaccount.sid
    return [
        MessagingService(
            "probe-service",
            account_key="probe",
            account_sid=sid,
            tag="probe",
            settings={
                "friendly_name": "Probe",
                "use_case": "notifications",
                "inbound_request_url": pulumi.Output.secret("https://hooks.example.com/in"),
                "status_callback": sid.apply(lambda s: f"https://hooks.example.com/{s}"),
                "validity_period": 14400,
                "sticky_sender": True,
                "fallback_ratio": 0.5,
                "sids_in_a_list": [sid, "PN0", pulumi.Output.secret("PN1")],
                "nested": {"a": [1, {"b": sid}], "c": None, "d": {"e": False}},
                "empty_list": [],
            },
            opts=pulumi.ResourceOptions(
                parent=tenant, depends_on=[tenant.subaccount], protect=True
            ),
        )
    ]


def _comparable(value: Any) -> Any:
    """`value` with the SDK's Unknown objects and assets (compared by identity) spelled out."""
    if isinstance(value, pulumi.output.Unknown):
        return "<unknown>"
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return (type(value).__name__, _comparable(vars(value)))
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_comparable(item) for item in value]
    return value


def _registered_once(preview: bool) -> tuple[list[tuple[str, bytes]], list[tuple]]:
    """The prod stack's landing zone (and the probe resources) registered through whatever SDK
    functions are in place: the monitor's requests and every output as the program reads it."""
    from components.landing_zone import LandingZone, LandingZoneArgs

    monitor = RecordingMonitor(preview)
    _ensure_event_loop()  # an earlier test's asyncio.run may have left none
    settings.ROOT.set(None)  # a new root stack resource per run
    pulumi.runtime.set_mocks(
        monitor.mocks, project=PROJECT, stack="prod", preview=preview, monitor=monitor
    )
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    plan = build_plan(load_stack_config(REPO_ROOT / "Pulumi.prod.yaml"))
    seen: list[tuple] = []

    async def read(label: str, output: pulumi.Output) -> None:
        data = await output._data
        urns = sorted([await r.urn.future() for r in data.resources])
        seen.append((label, repr(_comparable(data.value)), data.is_known, data.is_secret, urns))

    def program() -> None:
        zone = LandingZone("landing-zone", LandingZoneArgs(plan=plan, state_mark="a1b2c3"))
        resources: list[pulumi.Resource] = list(_extra_resources(zone))
        for tenant in zone.tenants.values():
            resources += [tenant.subaccount, tenant.delivery.default_service]
            resources += list(tenant.api_keys.values())
            for messaging in tenant.messaging.values():
                resources += [messaging.service, messaging.pool, *messaging.numbers.values()]
        reads = [
            read("summary", zone.summary()),
            read("names", zone.name_map()),
            read("secrets", zone.api_key_secrets()),
        ]
        for resource in resources:
            for name, value in sorted(vars(resource).items()):
                if isinstance(value, pulumi.Output):
                    reads.append(read(f"{resource._name}.{name}", value))
        _sync_await(asyncio.gather(*reads))

    _sync_await(sdk_mocks.run_pulumi_func(program))
    # Every output resolved, none still tracked for the program's end to wait for.
    seen.append(("still tracked", repr(list(SETTINGS.outputs)), True, False, []))
    return sorted(monitor.requests), sorted(seen)


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_the_engine_and_the_program_see_the_same_with_the_replacements(preview: bool) -> None:
    runs = []
    for replaced in (contextlib.nullcontext(), sdk_registration.installed()):
        with replaced:
            # One call site for both runs: the requests' stack traces name it.
            runs.append(_registered_once(preview))
    (sdk_requests, sdk_outputs), (fast_requests, fast_outputs) = runs

    registered = [r for kind, r in sdk_requests if kind == "register"]
    assert len(registered) > 50  # the prod stack's resources and the probe, not an empty run
    assert fast_requests == sdk_requests
    assert fast_outputs == sdk_outputs
    known = [known for label, _, known, _, _ in sdk_outputs if label.endswith(".sid")]
    assert any(known) and (not all(known) if preview else all(known))
    assert any(secret for _, _, _, secret, _ in sdk_outputs)
    assert any(urns for *_, urns in sdk_outputs)


def test_the_replacements_are_restored_after_the_block() -> None:
    before = (rpc.transfer_properties, rpc.serialize_property, rpc.contains_unknowns)
    with sdk_registration.installed():
        assert rpc.transfer_properties is not before[0]
    assert (rpc.transfer_properties, rpc.serialize_property, rpc.contains_unknowns) == before


def test_a_failed_registration_fails_each_output_with_its_error() -> None:
    class Thing(pulumi.CustomResource):
        pass

    async def scenario() -> tuple[Exception, Exception]:
        resource = Thing.__new__(Thing)
        transfer = sdk_registration.one_future_per_output(rpc.transfer_properties)
        resolvers = transfer(resource, {"a": 1, "b": 2, "id": None, "urn": None}, True)
        assert set(resolvers) == {"a", "b"}
        resolvers.pop("b")(2, True, False, None, None)
        assert resource.b._data not in SETTINGS.outputs  # resolved: no longer tracked
        assert (await resource.b._data).value == 2
        assert resource.a._data in SETTINGS.outputs  # tracked until it resolves
        rpc.resolve_outputs_due_to_exception(resolvers, RuntimeError("create failed"))
        with pytest.raises(RuntimeError) as failed:
            await resource.a._data
        # A failed output stays tracked, for the program's end to report (the SDK's rule).
        assert resource.a._data in SETTINGS.outputs
        SETTINGS.outputs.discard(resource.a._data)
        return failed.value, RuntimeError("create failed")

    error, expected = asyncio.run(scenario())
    assert str(error) == str(expected)


@pytest.mark.parametrize(
    "value",
    ["s", "", True, False, 0, 7, 1.5, None, rpc.UNKNOWN],
)
def test_a_plain_scalar_serializes_and_contains_no_unknowns_as_in_the_sdk(value: object) -> None:
    fast = sdk_registration.plain_scalars_first(rpc.serialize_property)
    for typ in (None, str, int):
        assert asyncio.run(fast(value, [], "k", None, None, typ)) == asyncio.run(
            rpc.serialize_property(value, [], "k", None, None, typ)
        )
    as_protobuf = {"return_protobuf_value": True}
    protobuf = asyncio.run(fast(value, [], "k", **as_protobuf))
    assert protobuf == asyncio.run(rpc.serialize_property(value, [], "k", **as_protobuf))
    walk = sdk_registration.no_walk_for_scalars(rpc.contains_unknowns)
    assert walk(value) is rpc.contains_unknowns(value) is False
    assert walk([pulumi.output.UNKNOWN]) is True and walk({"a": "b"}) is False


def test_a_settings_read_returns_what_the_sdks_returns() -> None:
    from pulumi._utils import ContextProperty

    class Holder:
        plain = ContextProperty(name="tlz-test-plain", default="value")
        mapping = ContextProperty(name="tlz-test-mapping", default={"a": 1})

    sdk_get = ContextProperty.__get__
    holder = Holder()
    for name in ("plain", "mapping"):
        prop = Holder.__dict__[name]
        assert sdk_registration._one_read_get(prop, holder, Holder) is sdk_get(prop, holder, Holder)
        assert sdk_registration._one_read_get(prop, None, Holder) is prop
    holder.plain = "changed"
    with sdk_registration.installed():
        assert holder.plain == "changed" and holder.mapping is Holder.__dict__["mapping"]


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


SECRET = {SECRET_SIG: rpc._special_secret_sig}
ENGINE_ANSWERS = [
    {"sid": "MG1", "count": 3, "ratio": 0.5, "on": True, "off": False, "gone": None},
    {"sid": rpc.UNKNOWN, "list": ["a", rpc.UNKNOWN, None, 2], "map": {"u": rpc.UNKNOWN}},
    {"secret": {**SECRET, "value": "s3cr3t"}, "unknown_secret": {**SECRET, "value": rpc.UNKNOWN}},
    {"in_list": ["PN0", {**SECRET, "value": "PN1"}], "in_map": {"a": {**SECRET, "value": "x"}}},
    {"nested": {"a": [1, {"b": [True, None, {"c": "d"}]}], "empty": {}, "none": []}},
    {"asset": {SECRET_SIG: rpc._special_asset_sig, "text": "hello"}},
    # A reference to a resource whose id is not known yet (its reading follows keep_unknowns).
    {"ref": {SECRET_SIG: rpc._special_resource_sig, "urn": "urn:pulumi:p::t::t:m:T::x", "id": ""}},
    {"__provider": "pickled", "__internal": "kept"},
]


@pytest.mark.parametrize("answer", ENGINE_ANSWERS)
@pytest.mark.parametrize("keep_unknowns", [True, False])
@pytest.mark.parametrize("dry_run", [True, False])
def test_an_engine_answer_reads_as_the_sdk_reads_it(
    answer: dict, keep_unknowns: bool, dry_run: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SETTINGS, "dry_run", dry_run)
    struct = _struct(answer)
    keep = keep_unknowns or dry_run
    fast = sdk_registration._struct_to_python(struct, keep, keep_unknowns)
    sdk = rpc.deserialize_properties(struct, keep_unknowns)
    assert repr(_comparable(fast)) == repr(_comparable(sdk))
    assert [type(v) for v in fast.values()] == [type(v) for v in sdk.values()]


def test_an_unset_value_is_refused_as_the_sdk_refuses_it() -> None:
    struct = struct_pb2.Struct()
    struct.fields["unset"].CopyFrom(struct_pb2.Value())
    with pytest.raises(ValueError, match="Value not set"):
        rpc.deserialize_properties(struct)
    with pytest.raises(ValueError, match="Value not set"):
        sdk_registration._struct_to_python(struct, False, False)


@pytest.mark.parametrize("value", ["pickled-provider", "", 3, 2.5, True, None])
def test_a_secret_of_a_scalar_resolves_as_the_sdks_does(value: object) -> None:
    secret = sdk_registration.secret_of_scalars_resolved(pulumi.Output.secret)

    async def both() -> tuple:
        fast, sdk = await secret(value)._data, await pulumi.Output.secret(value)._data
        return (fast.value, fast.is_known, fast.is_secret, fast.resources), (
            sdk.value,
            sdk.is_known,
            sdk.is_secret,
            sdk.resources,
        )

    fast, sdk = asyncio.run(both())
    assert fast == sdk and fast[2] is True


def test_only_pending_outputs_are_tracked_until_they_resolve() -> None:
    async def scenario() -> None:
        saved = set(SETTINGS.outputs)
        SETTINGS.outputs.clear()
        try:
            loop = asyncio.get_running_loop()
            resolved, pending = loop.create_future(), loop.create_future()
            resolved.set_result(sdk_registration.sdk_output._OutputData(set(), 1, True, False))
            failing = loop.create_future()
            for data in (resolved, pending, failing):
                output = object.__new__(pulumi.Output)  # not yet tracked by the SDK's _track
                output._data = data
                sdk_registration._track_until_resolved(output)
            assert SETTINGS.outputs == {pending, failing}
            pending.set_result(sdk_registration.sdk_output._OutputData(set(), 2, True, False))
            failing.set_exception(RuntimeError("failed"))
            await asyncio.sleep(0)  # the done callbacks run
            assert SETTINGS.outputs == {failing}  # a failure stays, for the program's end
            failing.exception()  # retrieved: no warning at exit
        finally:
            SETTINGS.outputs.clear()
            SETTINGS.outputs.update(saved)

    asyncio.run(scenario())


def test_a_urn_or_id_output_resolves_as_the_sdks_and_is_untracked_once_resolved() -> None:
    from pulumi.runtime import resource as sdk_resource

    fast_output = sdk_registration.untracked_when_resolved(sdk_resource.resource_output)
    owner = object()

    async def scenario() -> tuple:
        saved = set(SETTINGS.outputs)
        SETTINGS.outputs.clear()
        try:
            (resolve_fast, fast), (resolve_sdk, sdk) = (
                fast_output(owner),
                (sdk_resource.resource_output(owner)),
            )
            assert fast._data in SETTINGS.outputs
            resolve_fast("urn:a", True, False, None)
            resolve_sdk("urn:a", True, False, None)
            assert fast._data not in SETTINGS.outputs
            (fast_data, sdk_data) = (await fast._data, await sdk._data)
            resolve_failed, failed = fast_output(owner)
            resolve_failed(None, False, False, RuntimeError("failed"))
            assert failed._data in SETTINGS.outputs  # kept, for the program's end to report
            assert isinstance(failed._data.exception(), RuntimeError)
            return fast_data, sdk_data
        finally:
            SETTINGS.outputs.clear()
            SETTINGS.outputs.update(saved)

    fast_data, sdk_data = asyncio.run(scenario())
    assert fast_data == sdk_data and fast_data.resources == {owner}
