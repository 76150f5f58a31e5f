"""Previews that know what an in-place update keeps (the SID of the object it updates).

pulumi.dynamic's host does not take part in previews: its `Configure` answers without
`supportsPreview`, so for a planned update the engine projects the new inputs as the outputs.
An output that is not an input (a subaccount's SID) is then unknown in the preview, and every
resource that takes it as an input (the subaccount's keys, services and numbers) sees an
unknown `account_sid`: their diffs plan a replace. A customer's rename would preview as a
replace of its protected numbers and fail. `DiffResponse.stables`, the protocol's way to say
"this output will not change", does not help: pulumi.dynamic never sends it, and engine 3.274.1
only stores it in the step (resource/deploy/step.go) without using it for the planned outputs.

So this host answers previews itself, in this process only:
- `Configure` says `supportsPreview`, so the engine asks the provider during a preview;
- a preview `Create` answers the checked inputs, unknowns kept and no ID: exactly what the
  engine projects for a provider without previews;
- a preview `Update` answers the new inputs too, plus the outputs the provider names in
  `kept_on_update` (a class attribute; e.g. `sid`) from the current state: an update changes
  an object in place, so its SID is known before it runs. Providers without the attribute get
  the engine's projection, as before.
Real creates and updates are untouched. Installed only with an SDK whose host was checked
(provider_host.CHECKED_SDK_VERSIONS) and whose `Configure` still answers as read here
(tests/tools/test_provider_previews.py fails when an upgrade changes it).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A provider's outputs an in-place update never changes (read from the provider instance).
KEPT_ON_UPDATE = "kept_on_update"
PROVIDER_KEY = "__provider"
# How pulumi.dynamic's host answers Configure (no previews): what this module changes.
STOCK_CONFIGURE = 'fields = {"acceptSecrets": False}'


def stock_configure_is_as_read() -> bool:
    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    if spec is None or spec.origin is None:
        return False
    source = Path(spec.origin).read_text()
    return STOCK_CONFIGURE in source and "supportsPreview" not in source


ProviderLookup = Callable[[dict[str, Any], dict[str, Any]], Any]


def answer_previews(servicer: Any, get_provider: ProviderLookup | None = None) -> None:
    """Wrap the servicer instance's Configure, Create and Update (see the module doc)."""
    from pulumi.runtime import proto, rpc

    stock_configure = servicer.Configure
    stock_create = servicer.Create
    stock_update = servicer.Update
    if get_provider is None:
        # The host's own provider cache (module globals of the class `python -m
        # pulumi.dynamic` defined): a preview uses the instance the real calls configured.
        get_provider = type(servicer).Diff.__globals__["get_provider"]
    assert get_provider is not None

    def configure(request: Any, context: Any) -> Any:
        response = stock_configure(request, context)
        response.supportsPreview = True
        return response

    def create(request: Any, context: Any) -> Any:
        if not request.preview:
            return stock_create(request, context)
        return proto.CreateResponse(properties=request.properties)

    def update(request: Any, context: Any) -> Any:
        if not request.preview:
            return stock_update(request, context)
        news = rpc.deserialize_properties(request.news, True)
        provider = get_provider(news, servicer._config)
        outputs = type(request.news)()
        outputs.CopyFrom(request.news)
        for key in sorted(getattr(provider, KEPT_ON_UPDATE, ())):
            old = request.olds.fields.get(key)
            if old is not None and old.WhichOneof("kind") != "null_value":
                outputs.fields[key].CopyFrom(old)
        return proto.UpdateResponse(properties=outputs)

    servicer.Configure = configure
    servicer.Create = create
    servicer.Update = update


def install(warn: Callable[[str], None]) -> bool:
    """Answer previews in the servicer that `pulumi.dynamic` registers; True when installed."""
    if not stock_configure_is_as_read():
        warn(
            "pulumi.dynamic's Configure no longer answers as read: previews keep the engine's "
            "projection (tools/provider_host/provider_previews.py)"
        )
        return False
    from pulumi.runtime.proto import provider_pb2_grpc

    stock_add = provider_pb2_grpc.add_ResourceProviderServicer_to_server

    def add(servicer: Any, grpc_server: Any) -> Any:
        answer_previews(servicer)
        return stock_add(servicer, grpc_server)

    provider_pb2_grpc.add_ResourceProviderServicer_to_server = add  # type: ignore[assignment]  # the same call, wrapped
    return True
