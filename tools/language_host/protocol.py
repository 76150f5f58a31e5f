"""The language host's protocol modules (Pulumi's generated `language_pb2`, its gRPC stubs
and `plugin_pb2`), imported without the rest of the Pulumi SDK.

The generated modules live in the SDK's `pulumi.runtime.proto` package; importing them the
usual way first runs `pulumi/__init__.py` and `pulumi/runtime/__init__.py`, the whole SDK
(automation API, OpenTelemetry, psutil, dill, 460 modules): 0.30 CPU seconds per start
against 0.12 for the protocol alone, and the CLI starts this host twice per preview (once
to ask for plugins, once to run the program). The host needs none of the SDK beyond these
messages, so the three packages on the way are entered as plain namespace modules for the
duration of the import (their directories, none of their `__init__` code), then removed
again: a later `import pulumi` in this process still runs the SDK's own package code.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING

_PACKAGES = ("pulumi", "pulumi.runtime", "pulumi.runtime.proto")


def _import_generated(*names: str) -> list[types.ModuleType]:
    if "pulumi" in sys.modules:  # the SDK is loaded already: the usual import costs nothing
        return [importlib.import_module(f"pulumi.runtime.proto.{name}") for name in names]
    spec = importlib.util.find_spec("pulumi")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the pulumi SDK is not installed in this interpreter")
    directory = spec.submodule_search_locations[0]
    for package in _PACKAGES:
        path = directory + package.removeprefix("pulumi").replace(".", "/")
        placeholder = types.ModuleType(package)
        placeholder.__path__ = [path]
        sys.modules[package] = placeholder
    try:
        return [importlib.import_module(f"pulumi.runtime.proto.{name}") for name in names]
    finally:
        for package in _PACKAGES:
            sys.modules.pop(package, None)


if TYPE_CHECKING:  # the type checker reads the same modules where the SDK keeps them
    from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2
else:
    language_pb2, language_pb2_grpc, plugin_pb2 = _import_generated(
        "language_pb2", "language_pb2_grpc", "plugin_pb2"
    )

__all__ = ["language_pb2", "language_pb2_grpc", "plugin_pb2"]
