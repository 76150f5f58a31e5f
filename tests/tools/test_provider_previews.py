"""tools/provider_host/provider_previews.py: the answers it gives the engine during a preview
(the engine's own projection, plus the outputs an update keeps), real calls passed through, and
the stock host it was read against. The effect through the real CLI: tests/fleet/
test_rename_preview.py (a customer's rename previews as updates, not replaces)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import proto

from providers.base import TwilioProvider
from providers.phone_number import PhoneNumberProvider
from providers.subaccount import SubaccountProvider
from tests.support.pulumi_cli import PROVIDER_HOST_DIR

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def load_previews() -> ModuleType:
    path = PROVIDER_HOST_DIR / "provider_previews.py"
    spec = importlib.util.spec_from_file_location("provider_previews_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    built = struct_pb2.Struct()
    built.update(values)
    return built


class StockServicer:
    """Stands for pulumi.dynamic's servicer: records what reached it."""

    def __init__(self) -> None:
        self._config: dict[str, Any] = {}
        self.calls: list[str] = []

    def Configure(self, request, context):
        self.calls.append("Configure")
        return proto.ConfigureResponse(acceptSecrets=False)

    def Create(self, request, context):
        self.calls.append("Create")
        return proto.CreateResponse(id="AC1", properties=struct({"sid": "AC1"}))

    def Update(self, request, context):
        self.calls.append("Update")
        return proto.UpdateResponse(properties=struct({"sid": "real"}))


def servicer_for(provider: object) -> StockServicer:
    servicer = StockServicer()
    load_previews().answer_previews(servicer, lambda props, config: provider)
    return servicer


def test_the_pinned_sdk_host_answers_configure_as_read() -> None:
    previews = load_previews()
    assert previews.stock_configure_is_as_read()
    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    # What answer_previews finds in the host's module: its provider cache.
    assert "def get_provider(props" in source and "class DynamicResourceProviderServicer" in source


def test_configure_says_the_host_takes_part_in_previews() -> None:
    servicer = servicer_for(SubaccountProvider())
    answer = servicer.Configure(proto.ConfigureRequest(), None)
    assert answer.supportsPreview is True and answer.acceptSecrets is False
    assert servicer.calls == ["Configure"]


def test_a_preview_create_is_the_engines_projection_and_calls_no_provider() -> None:
    servicer = servicer_for(SubaccountProvider())
    inputs = struct({"friendly_name": "Acme", "account_key": UNKNOWN, "__provider": "p"})
    answer = servicer.Create(proto.CreateRequest(properties=inputs, preview=True), None)
    assert answer.id == "" and answer.properties == inputs
    assert servicer.calls == []
    real = servicer.Create(proto.CreateRequest(properties=inputs, preview=False), None)
    assert real.id == "AC1" and servicer.calls == ["Create"]


def test_a_preview_update_keeps_what_the_provider_says_an_update_keeps() -> None:
    servicer = servicer_for(SubaccountProvider())
    olds = struct(
        {
            "sid": "AC0123",
            "owner_account_sid": "ACparent",
            "friendly_name": "Acme",
            "status": "active",
            "__provider": "p",
        }
    )
    news = struct({"friendly_name": "Acme Dental", "status": "active", "__provider": "p"})
    request = proto.UpdateRequest(id="AC0123", olds=olds, news=news, preview=True)
    answer = dict(servicer.Update(request, None).properties)
    assert answer == {
        "friendly_name": "Acme Dental",  # the new inputs, as the engine projects them
        "status": "active",
        "__provider": "p",
        "sid": "AC0123",  # kept: the update acts on this account
        "owner_account_sid": "ACparent",
    }
    assert servicer.calls == []
    real = servicer.Update(proto.UpdateRequest(id="AC0123", olds=olds, news=news), None)
    assert dict(real.properties) == {"sid": "real"} and servicer.calls == ["Update"]


def test_only_the_named_outputs_are_kept_and_never_a_null() -> None:
    olds = struct({"sid": "PN1", "number": "+14155550100", "friendly_name": "old", "x": 1})
    news = struct({"friendly_name": "new", "__provider": "p"})
    request = proto.UpdateRequest(id="PN1", olds=olds, news=news, preview=True)
    answer = dict(servicer_for(PhoneNumberProvider()).Update(request, None).properties)
    assert answer == {
        "friendly_name": "new",
        "__provider": "p",
        "sid": "PN1",
        "number": "+14155550100",
    }

    nothing = struct({"sid": None, "friendly_name": "old"})
    request = proto.UpdateRequest(id="X", olds=nothing, news=news, preview=True)
    answer = dict(
        servicer_for(TwilioProvider.__new__(TwilioProvider)).Update(request, None).properties
    )
    assert answer == {"friendly_name": "new", "__provider": "p"}  # sid stays unknown

    # A provider that names nothing gets the engine's projection alone.
    request = proto.UpdateRequest(id="PN1", olds=olds, news=news, preview=True)
    answer = dict(servicer_for(SimpleNamespace()).Update(request, None).properties)
    assert answer == {"friendly_name": "new", "__provider": "p"}


def test_every_provider_keeps_its_sid() -> None:
    assert "sid" in TwilioProvider.kept_on_update
    assert SubaccountProvider.kept_on_update == {"sid", "owner_account_sid"}
