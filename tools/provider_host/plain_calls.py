"""Check and Diff without the SDK's generic conversions when the properties are plain values.

The engine calls the provider's Check (and, unless diffs run in parallel, its Diff) for every
resource in series (pkg/resource/deploy/step_generator.go, engine 3.274.1), so each call's time
is wall time of every preview. pulumi.dynamic's host spends most of a Check converting: both
property bags through `rpc.deserialize_properties` (generic: assets, archives, secrets,
resource references, output values), then the answer through the asynchronous
`rpc.serialize_properties` on an event loop it creates and closes for that one call (a socket
pair each time). Our providers' properties are plain values (strings, numbers, booleans, lists,
maps; the pickled provider is a string), for which all that comes down to reading and writing
the protobuf Struct: about a tenth of the time (bench/policy_check.py measures the check).

So this host converts plain properties itself and calls the provider exactly as the stock
methods do: the same provider instance (the host's own `get_provider`), the same arguments
(unknowns as `pulumi.output.Unknown`, nulls dropped from maps as the SDK drops them), the same
answer message, and errors reported the stock way (`context.abort(UNKNOWN, format_exc())`, so
readable_errors.py applies). Anything else (a secret, an asset, a resource reference, an
unknown provider, an answer holding a non-plain value) takes the stock method, unchanged.
Installed only with an SDK whose host was checked (provider_host.CHECKED_SDK_VERSIONS);
tests/tools/test_plain_calls.py compares the answers with the stock methods'.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

PROVIDER_KEY = "__provider"


class NotPlain(Exception):
    """A value the SDK's generic conversion must handle."""


def plain_properties(struct: Any, unknown: str, make_unknown: Callable[[], Any]) -> dict:
    """`rpc.deserialize_properties(struct, keep_unknowns=True)` for a Struct of plain values;
    raises NotPlain for anything with a signature (secret, asset, archive, resource, output)."""
    from pulumi.runtime.rpc import _special_sig_key

    def value_of(value: Any) -> Any:
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            text = value.string_value
            return make_unknown() if text == unknown else text
        if kind == "number_value":
            return value.number_value
        if kind == "bool_value":
            return value.bool_value
        if kind == "struct_value":
            return mapping_of(value.struct_value)
        if kind == "list_value":
            return [value_of(item) for item in value.list_value.values]
        if kind == "null_value":
            return None
        raise NotPlain("a value with no kind")  # the SDK's own reading refuses it: let it say so

    def mapping_of(inner: Any) -> dict:
        if _special_sig_key in inner.fields:
            raise NotPlain(_special_sig_key)
        output = {}
        for key, value in inner.fields.items():
            converted = value_of(value)
            if converted is not None:  # the SDK drops nulls from maps
                output[key] = converted
        return output

    return mapping_of(struct)


_PLAIN_SCALARS = (str, bool, int, float)


def plain_struct(values: dict, struct_type: type) -> Any:
    """`rpc.serialize_properties(values, {})` for plain values (top-level nulls left out, as the
    SDK leaves them out); raises NotPlain for anything else (an Unknown, an Output, a tuple...)."""

    def check(value: Any) -> None:
        kind = type(value)
        if value is None or kind in _PLAIN_SCALARS:
            return
        if kind is list:
            for item in value:
                check(item)
            return
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str:
                    raise NotPlain(repr(key))
                check(item)
            return
        raise NotPlain(kind.__name__)

    struct = struct_type()
    for key, value in values.items():
        if type(key) is not str:
            raise NotPlain(repr(key))
        check(value)
        if value is not None:
            struct[key] = value
    return struct


def convert_plainly(servicer: Any, get_provider: Callable[..., Any] | None = None) -> None:
    """Wrap the servicer instance's Check and Diff (see the module doc)."""
    import grpc
    from google.protobuf import struct_pb2
    from pulumi.output import Unknown
    from pulumi.runtime import proto, rpc

    stock_check = servicer.Check
    stock_diff = servicer.Diff
    if get_provider is None:
        # The host's own provider cache (module globals of the class `python -m
        # pulumi.dynamic` defined), as provider_previews.py reads it.
        get_provider = type(servicer).Diff.__globals__["get_provider"]
    assert get_provider is not None
    lookup: Callable[..., Any] = get_provider

    def both(request: Any) -> tuple[dict, dict] | None:
        try:
            olds = plain_properties(request.olds, rpc.UNKNOWN, Unknown)
            news = plain_properties(request.news, rpc.UNKNOWN, Unknown)
        except NotPlain:
            return None
        if type(news.get(PROVIDER_KEY)) is not str:
            return None  # an unknown or missing provider: the stock method decides
        return olds, news

    def check(request: Any, context: Any) -> Any:
        found = both(request)
        if found is None:
            return stock_check(request, context)
        olds, news = found
        try:
            provider = lookup(news, servicer._config)
            result = provider.check(olds, news)
            inputs = result.inputs
            inputs[PROVIDER_KEY] = news[PROVIDER_KEY]
            try:
                inputs_proto = plain_struct(inputs, struct_pb2.Struct)
            except NotPlain:
                inputs_proto = _serialized_by_the_sdk(rpc, inputs)
            failures = [
                proto.CheckFailure(property=f.property, reason=f.reason) for f in result.failures
            ]
            return proto.CheckResponse(inputs=inputs_proto, failures=failures)
        except Exception:  # reported as pulumi.dynamic's host reports it
            context.abort(grpc.StatusCode.UNKNOWN, traceback.format_exc())

    def diff(request: Any, context: Any) -> Any:
        found = both(request)
        if found is None:
            return stock_diff(request, context)
        olds, news = found
        try:
            provider = lookup(news, servicer._config)
            result = provider.diff(request.id, olds, news)
            # The stock method's answer, field by field.
            fields: dict[str, Any] = {}
            if result.changes is not None:
                fields["changes"] = (
                    proto.DiffResponse.DIFF_SOME if result.changes else proto.DiffResponse.DIFF_NONE
                )
            else:
                fields["changes"] = proto.DiffResponse.DIFF_UNKNOWN
            if result.replaces is not None:
                fields["replaces"] = result.replaces
            if result.delete_before_replace is not None:
                fields["deleteBeforeReplace"] = result.delete_before_replace
            return proto.DiffResponse(**fields)
        except Exception:  # reported as pulumi.dynamic's host reports it
            context.abort(grpc.StatusCode.UNKNOWN, traceback.format_exc())

    servicer.Check = check
    servicer.Diff = diff


def _serialized_by_the_sdk(rpc: Any, values: dict) -> Any:
    """The stock host's own conversion, for an answer that is not plain."""
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(values, {}))
    finally:
        loop.close()


def install() -> None:
    """Convert plainly in the servicer that `pulumi.dynamic` registers."""
    from pulumi.runtime.proto import provider_pb2_grpc

    stock_add = provider_pb2_grpc.add_ResourceProviderServicer_to_server

    def add(servicer: Any, grpc_server: Any) -> Any:
        convert_plainly(servicer)
        return stock_add(servicer, grpc_server)

    provider_pb2_grpc.add_ResourceProviderServicer_to_server = add  # type: ignore[assignment]  # the same call, wrapped
