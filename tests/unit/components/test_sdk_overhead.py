"""components/sdk_overhead.py replaces private functions of one SDK release: these tests pin that
release and check the replacements behave as the SDK's own do."""

from __future__ import annotations

import asyncio
import re
from importlib.metadata import version
from pathlib import Path

import pulumi.runtime
import pytest
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.sync_await import _ensure_event_loop

from components import sdk_overhead

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_the_installed_sdk_is_the_one_the_replacements_were_checked_against():
    assert version("pulumi") == sdk_overhead.CHECKED_SDK_VERSION, (
        "the pulumi SDK changed: re-check components/sdk_overhead.py against it "
        "(wait_for_rpcs, _get_stack_trace, log.debug), then update CHECKED_SDK_VERSION"
    )
    pin = re.search(r"^pulumi==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    assert pin and pin.group(1) == sdk_overhead.CHECKED_SDK_VERSION


@pytest.fixture
def tracked_outputs():
    saved = set(SETTINGS.outputs)
    SETTINGS.outputs.clear()
    yield SETTINGS.outputs
    SETTINGS.outputs.clear()
    SETTINGS.outputs.update(saved)


def test_draining_waits_for_every_output_including_ones_created_meanwhile(tracked_outputs):
    finished: list[str] = []

    async def output(name: str, delay: float, then=None):
        await asyncio.sleep(delay)
        finished.append(name)
        if then is not None:
            tracked_outputs.add(asyncio.ensure_future(then))

    async def scenario():
        for index in range(50):
            tracked_outputs.add(asyncio.ensure_future(output(f"o{index}", index / 1000)))
        tracked_outputs.add(asyncio.ensure_future(output("parent", 0.01, output("child", 0.1))))
        await sdk_overhead.drain_outputs()

    asyncio.run(scenario())
    assert len(finished) == 52 and finished[-1] == "child"
    assert not tracked_outputs


def test_draining_raises_the_first_failure_without_waiting_for_the_rest(tracked_outputs):
    async def fails():
        await asyncio.sleep(0.01)
        raise RuntimeError("create failed")

    async def scenario():
        slow = asyncio.ensure_future(asyncio.sleep(30))
        tracked_outputs.update({slow, asyncio.ensure_future(fails())})
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RuntimeError, match="create failed"):
            await sdk_overhead.drain_outputs()
        assert loop.time() - started < 5
        assert slow in tracked_outputs  # still pending, still tracked
        slow.cancel()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("components/tenant.py", True),
        ("providers/phone_number.py", True),
        ("__main__.py", True),
        (".venv/lib/python3.11/site-packages/pulumi/runtime/stack.py", False),
        (".bin/pulumi-language-python-exec", False),
        ("vendor/lib/site-packages/x.py", False),
    ],
)
def test_only_the_projects_own_frames_are_kept_in_stack_traces(path: str, kept: bool):
    project = "file:///home/ops/landing-zone/"
    assert sdk_overhead.is_project_frame(project + path, project) is kept
    assert not sdk_overhead.is_project_frame("file:///usr/lib/python3.11/asyncio/x.py", project)


def test_a_preview_records_no_stack_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    # A preview's snapshot is discarded by the engine: walking the stack would be CPU for nothing.
    def walk() -> None:
        raise AssertionError("the stack was walked during a preview")

    capture = sdk_overhead._project_frames_only(walk, "file:///project/")
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
    assert list(capture().frames) == []


def test_a_resource_classs_output_types_are_the_sdks_computed_once() -> None:
    from pulumi import _types

    from providers.messaging_service import MessagingService
    from providers.phone_number import PhoneNumber

    calls: list[type] = []

    def counted(resource_cls: type) -> dict[str, type]:
        calls.append(resource_cls)
        return _types.resource_types(resource_cls)

    resource_types = sdk_overhead.per_class_types(counted)
    for cls in (MessagingService, PhoneNumber, MessagingService, PhoneNumber):
        types = resource_types(cls)
        assert types == _types.resource_types(cls) and "sid" in types
        types.clear()  # each caller has its own copy
    assert calls == [MessagingService, PhoneNumber]


def test_a_stateless_provider_is_pickled_once_with_the_sdks_bytes() -> None:
    from pulumi.dynamic import dynamic

    from providers.messaging_service import MessagingServiceProvider
    from providers.subaccount import SubaccountProvider

    pickled: list[object] = []

    def counted(provider: object) -> str:
        pickled.append(provider)
        return dynamic.serialize_provider(provider)

    serialize = sdk_overhead.per_class_pickle(counted)
    for cls in (MessagingServiceProvider, SubaccountProvider, MessagingServiceProvider):
        assert serialize(cls()) == dynamic.serialize_provider(cls())
    assert [type(p) for p in pickled] == [MessagingServiceProvider, SubaccountProvider]

    with_state = MessagingServiceProvider()
    with_state.note = "captured"  # type: ignore[attr-defined]
    assert serialize(with_state) == dynamic.serialize_provider(with_state)
    assert serialize(with_state) != serialize(MessagingServiceProvider())
    assert pickled[-1] is with_state and len(pickled) == 4


class _NoResources(pulumi.runtime.Mocks):
    def new_resource(self, args):
        raise AssertionError("no resource is registered here")

    def call(self, args):
        return {}


def _sdk_create_urn():
    from pulumi.runtime import resource as sdk_resource

    return getattr(sdk_resource.create_urn, "__wrapped__", sdk_resource.create_urn)


def _mock_stack() -> None:
    # set_mocks registers the stack on the current event loop; an earlier test's
    # asyncio.run may have left none (the file alone, or a -k selection, would fail).
    _ensure_event_loop()
    pulumi.runtime.set_mocks(_NoResources(), project="tlz", stack="prod", preview=True)


async def _resolved(output: pulumi.Output) -> tuple[object, bool, bool, set]:
    data = await output._data
    return data.value, data.is_known, data.is_secret, data.resources


@pytest.mark.parametrize(
    "args",
    [
        (
            "acme",
            "pulumi-python:dynamic/twilio:Subaccount",
            "urn:pulumi:prod::tlz::tlz:index:Tenant::acme",
        ),
        ("k", "pulumi-python:dynamic/twilio:ApiKey", "urn:pulumi:prod::tlz::a$b::c"),
        ("odd", "t:m:T", "no-separator"),
        ("empty-parent", "t:m:T", ""),
        ("landing-zone", "tlz:index:LandingZone", None),
        ("landing-zone", "tlz:index:LandingZone", None, "other-project", "other-stack"),
    ],
)
def test_a_urn_of_plain_strings_resolves_as_the_sdks_chain_does(args: tuple) -> None:
    sdk_create_urn = _sdk_create_urn()
    create_urn = sdk_overhead.resolved_urn_of_strings(sdk_create_urn)
    _mock_stack()

    async def both():
        return await _resolved(create_urn(*args)), await _resolved(sdk_create_urn(*args))

    fast, sdk = asyncio.run(both())
    assert fast == sdk
    assert fast[1] is True and fast[2] is False and fast[3] == set()


def test_a_urn_with_an_output_part_goes_the_sdks_way() -> None:
    sdk_create_urn = _sdk_create_urn()
    calls: list[tuple] = []

    def counted(*args):
        calls.append(args)
        return sdk_create_urn(*args)

    create_urn = sdk_overhead.resolved_urn_of_strings(counted)
    _mock_stack()

    async def resolve():
        secret_name = pulumi.Output.secret("acme")
        return await _resolved(create_urn(secret_name, "t:m:T", "urn:pulumi:prod::tlz::p::q"))

    value, known, secret, _ = asyncio.run(resolve())
    assert (value, known, secret) == ("urn:pulumi:prod::tlz::p$t:m:T::acme", True, True)
    assert len(calls) == 1


def test_garbage_is_collected_less_often_and_the_imports_are_frozen() -> None:
    import gc

    before = gc.get_threshold()
    try:
        sdk_overhead.collect_garbage_less_often()
        assert gc.get_threshold() == (sdk_overhead.GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
