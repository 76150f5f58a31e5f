"""The Pulumi SDK's work per registered resource, done with fewer objects and calls; what the
engine receives stays byte for byte the same (tests/unit/components/test_sdk_registration.py).

Measured with `python -m bench.program_profile --customers 100` (1,602 resources): the
program's CPU is spread over every registration, the asyncio loop's own bookkeeping included
(about 114,000 callbacks and 26,000 tasks for one preview). Each change below removes work the
SDK does for features this program never uses, or repeats for values that need none of it:

- **An output property is one future, not four futures and a task.** Every input of a
  resource becomes an output on the resource object (`transfer_properties`): the SDK makes a
  future for its value, known flag, secret flag and dependencies, and a task that awaits the
  four to assemble them: 20,000 outputs, 80,000 futures and 20,000 tasks for a 100-customer
  group. Here the resolver sets one future with the assembled data, as the SDK already does
  for every resource's `urn` and `id` (`resource_output`): the same value, flags,
  dependencies and failure, one loop step sooner. The output is tracked for the program's
  end as the SDK tracks every output, and the resolver itself stops tracking it once
  resolved (the SDK schedules a done callback per output for that: 20,000 more loop steps).
  A resource's `urn` and `id` outputs are tracked the same way.
- **A settings read is one context-variable read, not two.** Each read of the SDK's ambient
  settings (`SETTINGS.monitor`, `.outputs`, `.dry_run`, ... about 95 per resource: every
  output tracked, every feature asked) looked the context variable up twice, once to test
  whether it holds a dict (the SDK then returns the property object itself) and once for the
  value. Here once, with the same results, dicts included.
- **Plain scalars skip the type dispatch.** Serializing a property runs a dozen type checks
  (sequence, unknown, resource, asset, archive, awaitable, output, input type, mapping,
  protobuf value) before returning a `str`, `bool`, `int` or `float` unchanged, and the
  check for unknowns walks it the same way. A value of exactly one of those types (never a
  subclass: enums and the like go the SDK's way), or None, is returned at once.
- **The engine's answer read once, straight from protobuf.** Resolving a resource's outputs
  (a fifth of the program's CPU under py-spy) read the answer's Struct through protobuf's
  Python helpers, then copied every value again to translate names this program never
  translates. For a resource that translates none (no type metadata, the base class's
  `translate_output_property`), the Struct is read field by field into the same values,
  and only properties with a declared output type go through the SDK's translation;
  signatures (secrets, assets, resource references, output values) are read by the SDK.
- **Outputs already resolved are not tracked; a dynamic provider's secret is one output.**
  The SDK tracks every output until it resolves, with a callback per output, even one
  created resolved (a URN of plain strings, a constant): those are no longer tracked, the
  others share one callback. Every dynamic resource wraps its pickled provider (a string)
  in `Output.secret`: two outputs and a task, where one resolved secret output holds the
  same value, flags and (no) dependencies.

Each replaces a private SDK function, so `install()` first checks that the SDK is the version
these were measured on (requirements.txt pins it) and otherwise leaves it alone with a
warning, as components/sdk_overhead.py does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pulumi.log
from google.protobuf import struct_pb2
from pulumi import _types as sdk_types
from pulumi import _utils as sdk_utils
from pulumi import output as sdk_output
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc as sdk_rpc
from pulumi.runtime import settings as sdk_settings
from pulumi.runtime.settings import SETTINGS

# The check is the one of the replacements beside these: the same SDK release.
from components.sdk_overhead import resolved_output, sdk_is_checked

# Exact types (compared with `type(value) in`, so no subclass) that serialize to themselves.
_PLAIN_SCALARS = frozenset({str, bool, int, float, type(None)})

_installed = False


def _replacements() -> list[tuple[object, str, object]]:
    """(owner, attribute, replacement) for each SDK function this module replaces."""
    return [
        (sdk_rpc, "transfer_properties", one_future_per_output(sdk_rpc.transfer_properties)),
        (sdk_rpc, "serialize_property", plain_scalars_first(sdk_rpc.serialize_property)),
        (sdk_rpc, "contains_unknowns", no_walk_for_scalars(sdk_rpc.contains_unknowns)),
        (sdk_utils.ContextProperty, "__get__", _one_read_get),
        (sdk_rpc, "resolve_outputs", plain_outputs_resolved_directly(sdk_rpc.resolve_outputs)),
        (pulumi.Output, "_track", _track_until_resolved),
        (sdk_resource, "resource_output", untracked_when_resolved(sdk_resource.resource_output)),
        (pulumi.Output, "secret", staticmethod(secret_of_scalars_resolved(pulumi.Output.secret))),
    ]


def install() -> bool:
    """Apply the replacements once per process; False (and a warning) on an unchecked SDK."""
    global _installed
    if _installed:
        return True
    if not sdk_is_checked("components/sdk_registration.py"):
        return False
    for owner, attribute, replacement in _replacements():
        setattr(owner, attribute, replacement)
    _installed = True
    return True


@contextmanager
def installed() -> Iterator[None]:
    """The replacements applied for the duration of the block, the SDK's restored after (tests
    compare both in one process)."""
    replacements = _replacements()
    saved = [(owner, attribute, owner.__dict__[attribute]) for owner, attribute, _ in replacements]
    try:
        for owner, attribute, replacement in replacements:
            setattr(owner, attribute, replacement)
        yield
    finally:
        for owner, attribute, original in saved:
            setattr(owner, attribute, original)


Resolver = Callable[[Any, bool, bool, Any, Exception | None], None]


def one_future_per_output(sdk_transfer_properties):
    """`transfer_properties(res, props, custom)`: each input becomes an output of `res` backed by
    one future that its resolver sets with the assembled `_OutputData`."""

    def transfer_properties(res: Any, props: Any, custom: bool) -> dict[str, Resolver]:
        resolvers: dict[str, Resolver] = {}
        pending: list[asyncio.Future] = []
        # The set these outputs are tracked in, read once per resource, not once per output.
        lock, tracked = SETTINGS.lock, SETTINGS.outputs
        for name in props:
            if name == "urn" or (name == "id" and custom):
                continue  # the SDK resolves these two itself (register_resource)
            data: asyncio.Future = asyncio.Future()
            resolvers[name] = _resolver(res, data, lock, tracked)
            output = object.__new__(pulumi.Output)  # as Output._from_data, tracked below
            output._data = data
            res.__dict__[name] = output
            pending.append(data)
        # Tracked as the SDK tracks every output until it resolves (the program's end waits
        # for them); the resolver stops tracking it itself, not through a loop callback.
        with lock:
            tracked.update(pending)
        return resolvers

    transfer_properties.__wrapped__ = sdk_transfer_properties  # the SDK's, for tests
    return transfer_properties


def _resolver(res: Any, data: asyncio.Future, lock: Any, tracked: set) -> Resolver:
    def resolve(
        value: Any, is_known: bool, is_secret: bool, deps: Any, failed: Exception | None
    ) -> None:
        if failed is not None:
            data.set_exception(failed)
            return
        # As the SDK: the property's dependencies and the resource itself.
        resources = set(deps) if deps else set()
        resources.add(res)
        data.set_result(
            sdk_output._OutputData(
                resources=resources, value=value, is_known=is_known, is_secret=is_secret
            )
        )
        # Resolved: no longer tracked (the SDK's done callback does this a loop step later);
        # a failed one stays tracked, for the program's end to report, as in the SDK.
        with lock:
            tracked.discard(data)

    return resolve


def untracked_when_resolved(sdk_resource_output):
    """`resource_output(res)`, a resource's `urn` or `id`: the SDK's one future, tracked until
    its resolver runs, which stops tracking it itself (a failed one stays tracked)."""

    def resource_output(res: Any) -> tuple[Callable[..., None], pulumi.Output]:
        data: asyncio.Future = asyncio.Future()
        lock, tracked = SETTINGS.lock, SETTINGS.outputs

        def resolve(value: Any, known: bool, secret: bool, exn: Exception | None) -> None:
            if exn is not None:
                data.set_exception(exn)
                return
            data.set_result(
                sdk_output._OutputData(
                    resources={res}, value=value, is_known=known, is_secret=secret
                )
            )
            with lock:
                tracked.discard(data)

        output = object.__new__(pulumi.Output)  # as Output._from_data, tracked here
        output._data = data
        with lock:
            tracked.add(data)
        return resolve, output

    resource_output.__wrapped__ = sdk_resource_output
    return resource_output


def plain_scalars_first(sdk_serialize_property):
    """`serialize_property(value, ...)`: an exact `str`/`bool`/`int`/`float` or None is its own
    serialization whatever the type hint; anything else, or a protobuf value asked for, goes
    the SDK's way."""

    async def serialize_property(value: Any, *args: Any, **kwargs: Any) -> Any:
        if type(value) in _PLAIN_SCALARS and not kwargs.get("return_protobuf_value"):
            return value
        return await sdk_serialize_property(value, *args, **kwargs)

    serialize_property.__wrapped__ = sdk_serialize_property
    return serialize_property


def no_walk_for_scalars(sdk_contains_unknowns):
    """`contains_unknowns(value)`: a plain scalar contains none; containers are walked by the
    SDK."""

    def contains_unknowns(value: Any) -> bool:
        if type(value) in _PLAIN_SCALARS:
            return False
        return sdk_contains_unknowns(value)

    contains_unknowns.__wrapped__ = sdk_contains_unknowns
    return contains_unknowns


def _one_read_get(self: Any, obj: Any, _owner: Any) -> Any:
    """ContextProperty.__get__ with one read: the property object itself on the class or when
    the variable holds a dict (the SDK's behaviour), otherwise the value."""
    if obj is None:
        return self
    value = self._data.get(self._ContextProperty__default)
    return self if isinstance(value, dict) else value


def plain_outputs_resolved_directly(sdk_resolve_outputs):
    """`resolve_outputs(res, serialized_props, outputs, deps, resolvers, custom, ...)` for a
    resource that translates no names (no type metadata, the base class's identity
    `translate_output_property`): the engine's answer read straight from its protobuf Struct,
    and a property without a declared output type kept as read, since the SDK's translation of
    such a value is a copy of it. Anything else (assets, archives, resource references,
    output values, typed properties) is handed to the SDK's own functions."""

    def resolve_outputs(
        res: Any,
        serialized_props: struct_pb2.Struct,
        outputs: struct_pb2.Struct,
        deps: Any,
        resolvers: dict[str, Resolver],
        custom: bool,
        transform_using_type_metadata: bool = False,
        keep_unknowns: bool = False,
        resolve_missing_as_unknown: bool = False,
    ) -> None:
        translates_names = type(res).translate_output_property is not _IDENTITY_TRANSLATION
        if transform_using_type_metadata or translates_names or _SIG_KEY in outputs.fields:
            return sdk_resolve_outputs(
                res,
                serialized_props,
                outputs,
                deps,
                resolvers,
                custom,
                transform_using_type_metadata,
                keep_unknowns,
                resolve_missing_as_unknown,
            )
        dry_run = sdk_settings.is_dry_run()
        keep = bool(keep_unknowns) or dry_run
        types = sdk_types.resource_types(type(res))
        translate = res.translate_output_property
        all_properties: dict[str, Any] = {}
        for key, value in _struct_to_python(outputs, keep, keep_unknowns).items():
            typ = types.get(key)
            if typ is not None:
                path = sdk_rpc._Path(key, resource=f"{res._name}")
                value = sdk_rpc.translate_output_properties(value, translate, typ, False, path)
            all_properties[key] = value
        if not dry_run or sdk_settings.is_legacy_apply_enabled():
            for key, value in list(serialized_props.items()):
                if key not in all_properties:
                    # An input the engine gave no final value for: the SDK's way, as given.
                    all_properties[key] = sdk_rpc.translate_output_properties(
                        sdk_rpc.deserialize_property(value),
                        translate,
                        types.get(key),
                        False,
                        path=sdk_rpc._Path(key, resource=f"{res._name}"),
                        return_none_on_dict_type_mismatch=True,
                    )
        sdk_rpc.resolve_properties(
            resolvers, all_properties, dict(deps), custom, resolve_missing_as_unknown
        )

    resolve_outputs.__wrapped__ = sdk_resolve_outputs
    return resolve_outputs


_IDENTITY_TRANSLATION = pulumi.Resource.translate_output_property
_SIG_KEY = sdk_rpc._special_sig_key


def _struct_to_python(
    struct: struct_pb2.Struct, unknowns_kept: bool, keep_unknowns: bool
) -> dict[str, Any]:
    """`rpc.deserialize_properties(struct, keep_unknowns)` of a Struct without a signature key:
    properties that read as None left out, the unknown sentinel read as `Unknown()` (when
    `unknowns_kept`: `keep_unknowns` or a preview, else None), secrets inside a map or list
    pushed up to it. A value with a signature gets the SDK's own reading, with the caller's
    `keep_unknowns` as the SDK passes it down."""
    fields = struct.fields
    result: dict[str, Any] = {}
    for key in fields:
        value = _value_to_python(fields[key], unknowns_kept, keep_unknowns)
        if value is not None:
            result[key] = value
    return result


def _value_to_python(value: struct_pb2.Value, unknowns_kept: bool, keep_unknowns: bool) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        text = value.string_value
        if text == sdk_rpc.UNKNOWN:
            return sdk_output.Unknown() if unknowns_kept else None
        return text
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        return value.number_value
    if kind == "null_value":
        return None
    if kind == "struct_value" and _SIG_KEY not in value.struct_value.fields:
        mapping = _struct_to_python(value.struct_value, unknowns_kept, keep_unknowns)
        if any(sdk_rpc.is_rpc_secret(item) for item in mapping.values()):
            return sdk_rpc.wrap_rpc_secret(
                {key: sdk_rpc.unwrap_rpc_secret(item) for key, item in mapping.items()}
            )
        return mapping
    if kind == "list_value":
        items = [
            _value_to_python(item, unknowns_kept, keep_unknowns) for item in value.list_value.values
        ]
        if any(sdk_rpc.is_rpc_secret(item) for item in items):
            return sdk_rpc.wrap_rpc_secret([sdk_rpc.unwrap_rpc_secret(item) for item in items])
        return items
    if kind is None:
        raise ValueError("Value not set")  # what the SDK's Struct reading raises
    # A map with a signature: a secret, asset, archive, resource reference or output value.
    return sdk_rpc.deserialize_property(value.struct_value, keep_unknowns)


def _track_until_resolved(self: pulumi.Output) -> None:
    """Output._track: the output's data tracked for the program's end until it resolves, by
    one shared callback; data already resolved without error is not tracked at all (the SDK
    adds it, and its callback removes it again one loop step later)."""
    data = self._data
    if data.done() and not data.cancelled() and data.exception() is None:
        return
    with SETTINGS.lock:
        SETTINGS.outputs.add(data)
    data.add_done_callback(_untrack_resolved)


def _untrack_resolved(data: asyncio.Future) -> None:
    if data.cancelled() or data.exception() is not None:
        return  # as the SDK: kept, for the program's end to report
    with SETTINGS.lock:
        SETTINGS.outputs.discard(data)


def secret_of_scalars_resolved(sdk_secret):
    """`Output.secret(value)`: of a plain scalar (a dynamic resource's pickled provider is one,
    on every resource), one resolved output with what the SDK's two outputs and task resolve
    to: the value, known, secret, depending on no resource. Anything else the SDK's way."""

    def secret(value: Any) -> pulumi.Output:
        if type(value) not in _PLAIN_SCALARS:
            return sdk_secret(value)
        return resolved_output(value, secret=True)

    secret.__wrapped__ = sdk_secret
    return secret
