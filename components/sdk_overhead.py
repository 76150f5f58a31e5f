"""Costs of the Pulumi Python SDK that grow with every resource a stack registers, cut.

Measured with `python -m bench.estate --profile` (N=50 customers, about 800 resources): the
program's thread spent 13 of 23 CPU seconds in the SDK's wait for outstanding outputs, 1.5 in
debug messages and 1.3 in stack traces; the program is one thread, so that CPU is wall time.

- **Waiting for outputs.** After the program body returns, the SDK waits for every tracked
  `Output` with `asyncio.wait(FIRST_COMPLETED)` in a loop: every time any output resolves, it
  re-arms a callback on each of the ~1,000 still pending ones, so the cost is pending x
  resolutions, quadratic in the stack's size. Here the drain waits for each snapshot of
  pending outputs with one `asyncio.gather` instead: the same outputs, the first failure still
  raised as soon as it happens, linear cost. The SDK's own function still runs for the RPC
  wait and its error reporting.
- **Stack traces.** Every resource records the Python stack that created it in the state: the
  SDK's, asyncio's and the language host's frames included, about 1.4 KB per resource. Only
  this project's frames are kept (components, providers, `__main__`): still the lines that
  declared the resource.
  A preview persists no state at all (the engine discards its snapshot), so there the trace
  is not computed: walking and resolving the frames was a fifth of the program's CPU in the
  policy check of a new 100-customer group (bench/policy_check.py).
- **Debug messages.** The SDK sends about five debug lines per resource to the engine, each a
  blocking RPC, shown only by `pulumi up --debug`. They are sent only when
  `TLZ_SDK_DEBUG=1`.
- **Work done again per resource that depends only on its class** (6% of the program's CPU in
  the no-change policy check of a 100-customer group, bench/policy_check.py): the output
  types read from the class's annotations (`typing.get_type_hints`) when the engine's answer
  is resolved, and the dynamic provider pickled with dill into `__provider`. Both are kept per
  class: the types as the SDK computes them (a copy handed out each time), the pickle only
  for a provider instance that holds no state of its own (ours hold none, providers/base.py),
  so its bytes are exactly what dill would write again.

- **A URN computed through six outputs for every resource** (17% of the program's CPU, the
  largest single item, in the policy check of a 100-customer group; bench/program_profile.py):
  each registration awaits `create_urn(name, type, parent_urn)`, which the SDK builds from
  `Output.from_input`, `apply` and `Output.all` (six outputs, their tasks and tracking), only
  to use the result when no engine is attached (unit-test mocks). When every part is already a
  plain string, as it is there, the same URN is returned as one resolved output: the same
  value, known, not secret, depending on no resource, exactly what the SDK's chain resolves
  to. Anything else (a parent resource, an output part) still goes the SDK's way.
- **Garbage collection** (a quarter of the program's CPU in that check): registering a
  resource allocates a few hundred container objects (futures, outputs, closures), many of
  which live until the program ends, and Python's collector walked them again and again.
  The objects of the imports are frozen out of the collector's reach, and it runs after
  50,000 allocations instead of 700 (`collect_garbage_less_often`). Peak memory did not
  grow: 185 MB against 189 MB before for that group's program.

Each replaces a private SDK function, so `install()` first checks that the SDK is the version
these were measured on (requirements.txt pins it) and otherwise leaves the SDK alone with a
warning; tests/unit/test_sdk_overhead.py fails on an upgrade until this module is re-checked.
"""

from __future__ import annotations

import asyncio
import gc
import os
from importlib.metadata import version
from pathlib import Path

import pulumi
import pulumi.dynamic.dynamic as sdk_dynamic
import pulumi.log
from pulumi import _types as sdk_types
from pulumi import output as sdk_output
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import settings as sdk_settings
from pulumi.runtime import stack as sdk_stack
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import SETTINGS

# The SDK release whose private functions this module replaces (requirements.txt pins it).
CHECKED_SDK_VERSION = "3.272.0"
DEBUG_ENV = "TLZ_SDK_DEBUG"

_installed = False


def sdk_is_checked(replacing_module: str) -> bool:
    """True on the SDK release the replacements were measured on; otherwise False, with a
    warning that `replacing_module` leaves the SDK as it is."""
    found = version("pulumi")
    if found == CHECKED_SDK_VERSION:
        return True
    pulumi.log.warn(
        f"pulumi SDK {found} is not the checked {CHECKED_SDK_VERSION}: "
        f"{replacing_module} leaves it as it is (re-check it, then update the pin)"
    )
    return False


def install(project_dir: Path | None = None) -> bool:
    """Apply the three changes once per process; False (and a warning) on an unchecked SDK."""
    global _installed
    if _installed:
        return True
    if not sdk_is_checked("components/sdk_overhead.py"):
        return False
    project_uri = (project_dir or Path.cwd()).resolve().as_uri() + "/"
    sdk_stack.wait_for_rpcs = _linear_wait_for_rpcs(sdk_stack.wait_for_rpcs)
    sdk_types.resource_types = per_class_types(sdk_types.resource_types)
    sdk_dynamic.serialize_provider = per_class_pickle(sdk_dynamic.serialize_provider)
    sdk_resource._get_stack_trace = _project_frames_only(sdk_resource._get_stack_trace, project_uri)
    sdk_resource.create_urn = resolved_urn_of_strings(sdk_resource.create_urn)
    if os.environ.get(DEBUG_ENV) != "1":
        pulumi.log.debug = _no_debug
    collect_garbage_less_often()
    _installed = True
    return True


def _linear_wait_for_rpcs(sdk_wait):
    async def wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
        rpcs = sdk_stack._get_rpc_manager().rpcs
        while True:
            # The SDK's wait for RPCs, and its reporting of a failed one; no outputs.
            await sdk_wait(await_all_outstanding_tasks=False)
            if not await_all_outstanding_tasks:
                return
            await drain_outputs()
            if not rpcs:
                return

    return wait_for_rpcs


async def drain_outputs() -> None:
    """Wait until every tracked output has resolved (outputs created meanwhile included)."""
    while True:
        with SETTINGS.lock:
            pending = list(SETTINGS.outputs)
            SETTINGS.outputs.clear()
        if not pending:
            return
        try:
            await asyncio.gather(*pending)
        except BaseException:
            # The first failure ends the program, as with the SDK; the rest stay tracked.
            with SETTINGS.lock:
                SETTINGS.outputs.update(task for task in pending if not task.done())
            raise


def is_project_frame(uri: str, project_uri: str) -> bool:
    """A frame of this project's own code: under the project directory, but not in its
    virtualenv, `.bin` or any other hidden directory, nor an installed package."""
    if not uri.startswith(project_uri):
        return False
    relative = uri[len(project_uri) :]
    return not relative.startswith(".") and "/site-packages/" not in relative


def _project_frames_only(sdk_capture, project_uri: str):
    def capture():
        if pulumi.runtime.is_dry_run():
            return source_pb2.StackTrace()  # a preview's state is discarded: nothing to record
        trace = sdk_capture()
        kept = [frame for frame in trace.frames if is_project_frame(frame.pc.uri, project_uri)]
        del trace.frames[:]
        trace.frames.extend(kept)
        return trace

    return capture


def _no_debug(*_args: object, **_kwargs: object) -> None:
    return None


def resolved_output(value: object, secret: bool = False) -> pulumi.Output:
    """An output already resolved to a known `value` that depends on no resource: what the
    SDK's chains resolve to for plain values, without their futures, tasks and tracking."""
    data: asyncio.Future = asyncio.Future()
    data.set_result(
        sdk_output._OutputData(resources=set(), value=value, is_known=True, is_secret=secret)
    )
    return pulumi.Output._from_data(data)


def resolved_urn_of_strings(sdk_create_urn):
    """`create_urn(name, type_, parent, project, stack)`: when name, type and parent URN are
    plain strings, the URN the SDK's output chain would resolve to, as one resolved output."""

    def create_urn(name, type_, parent=None, project=None, stack=None):
        if not (isinstance(name, str) and isinstance(type_, str)):
            return sdk_create_urn(name, type_, parent, project, stack)
        if isinstance(parent, str):
            prefix = parent[0 : parent.rfind("::")] + "$"
        elif parent is None:
            stack = sdk_settings.get_stack() if stack is None else stack
            project = sdk_settings.get_project() if project is None else project
            if not (isinstance(stack, str) and isinstance(project, str)):
                return sdk_create_urn(name, type_, parent, project, stack)
            prefix = "urn:pulumi:" + stack + "::" + project + "::"
        else:
            return sdk_create_urn(name, type_, parent, project, stack)
        return resolved_output(prefix + type_ + "::" + name)

    create_urn.__wrapped__ = sdk_create_urn  # the SDK's, for tests
    return create_urn


# Allocations of container objects between two young-generation collections (Python's is 700).
GC_YOUNG_THRESHOLD = 50_000


def collect_garbage_less_often() -> None:
    """The imports' objects frozen (never walked again), the young generation collected after
    GC_YOUNG_THRESHOLD allocations; the older generations keep Python's ratios."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def per_class_types(sdk_resource_types):
    """`resource_types(cls)` computed once per class; each caller gets its own copy."""
    computed: dict[type, dict[str, type]] = {}

    def resource_types(resource_cls: type) -> dict[str, type]:
        types = computed.get(resource_cls)
        if types is None:
            types = computed[resource_cls] = sdk_resource_types(resource_cls)
        return dict(types)

    return resource_types


def per_class_pickle(sdk_serialize_provider):
    """`serialize_provider(provider)` pickled once per class for providers without state."""
    pickled: dict[type, str] = {}

    def serialize_provider(provider: object) -> str:
        state = getattr(provider, "__dict__", None)
        if state is None or state:
            return sdk_serialize_provider(provider)  # state of its own: pickle it every time
        cls = type(provider)
        if cls not in pickled:
            pickled[cls] = sdk_serialize_provider(provider)
        return pickled[cls]

    return serialize_provider
