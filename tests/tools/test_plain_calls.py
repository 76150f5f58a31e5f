"""tools/provider_host/plain_calls.py: Check and Diff answer exactly as pulumi.dynamic's own
servicer does (the installed SDK's, run here in-process), for plain properties (converted by
the host) and for everything else (handed to the stock methods): the same inputs, failures,
diffs and errors, with unknowns, nulls, nested values, secrets and a real provider."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import dill
import pytest
from google.protobuf import struct_pb2
from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, ResourceProvider
from pulumi.runtime import proto

from providers.subaccount import SubaccountProvider
from tests.support.pulumi_cli import PROVIDER_HOST_DIR

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def _module(name: str, path: Path, drop_last_call: bool = False) -> ModuleType:
    if drop_last_call:
        # pulumi.dynamic's host serves as soon as it is imported (its last line is `main()`):
        # run its source without that line to get the stock servicer class.
        source = path.read_text()
        assert source.rstrip().endswith("main()")
        module = ModuleType(name)
        module.__file__ = str(path)
        exec(compile(source.rstrip()[: -len("main()")], str(path), "exec"), module.__dict__)
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STOCK_HOST = _module(
    "stock_dynamic_host",
    Path(importlib.util.find_spec("pulumi.dynamic").origin).with_name("__main__.py"),  # type: ignore[union-attr, arg-type]
    drop_last_call=True,
)
PLAIN = _module("plain_calls_under_test", PROVIDER_HOST_DIR / "plain_calls.py")


class EchoProvider(ResourceProvider):
    """Answers from what it receives, so every difference in conversion shows in the answer."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        if "boom" in news:
            raise ValueError(f"check failed on {sorted(news)}")
        failures = [CheckFailure("bad", "bad is refused")] if "bad" in news else []
        inputs = dict(news)
        inputs["seen"] = {"olds": sorted(olds), "kinds": [type(v).__name__ for v in news.values()]}
        inputs["default_filled"] = 14400
        inputs["left_out"] = None
        return CheckResult(inputs, failures)

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if "boom" in news:
            raise ValueError("diff failed")
        changed = sorted(k for k in news if olds.get(k) != news.get(k))
        return DiffResult(
            changes=bool(changed) if "undecided" not in news else None,
            replaces=[k for k in changed if k.startswith("replace")],
            delete_before_replace=True if "dbr" in news else None,
        )


def _pickled(provider: ResourceProvider) -> str:
    return base64.b64encode(dill.dumps(provider, recurse=True)).decode()


ECHO = _pickled(EchoProvider())
SUBACCOUNT = _pickled(SubaccountProvider())

BAGS: list[dict[str, Any]] = [
    {},
    {"name": "acme", "count": 2, "ratio": 0.5, "on": True, "off": False},
    {"name": None, "nested": {"a": None, "b": [1, None, "x"], "c": {"d": UNKNOWN}}},
    {"sid": UNKNOWN, "list": [UNKNOWN, "known", {"deep": [UNKNOWN]}], "empty": [], "map": {}},
    {"bad": "value", "replace_me": "x", "dbr": True},
    {"undecided": 1},
    {"boom": 1},
    {"secret": {**SECRET_SIG, "value": "hidden"}},  # not plain: the stock method answers
    {"list_of_secrets": [{**SECRET_SIG, "value": "a"}]},
]


class Context:
    """A gRPC servicer context that records an abort as the server would end the call."""

    def __init__(self) -> None:
        self.aborted: tuple[Any, str] | None = None

    def abort(self, code: Any, details: str) -> None:
        self.aborted = (code, details)
        raise RuntimeError("aborted")


def _servicers() -> tuple[Any, Any]:
    stock = STOCK_HOST.DynamicResourceProviderServicer()
    plain = STOCK_HOST.DynamicResourceProviderServicer()
    PLAIN.convert_plainly(plain, STOCK_HOST.get_provider)
    return stock, plain


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    built = struct_pb2.Struct()
    built.update(values)
    return built


def _call(method: Any, request: Any) -> tuple[Any, Any]:
    context = Context()
    try:
        return method(request, context), None
    except RuntimeError:
        return None, context.aborted


def _same(stock: tuple[Any, Any], plain: tuple[Any, Any]) -> None:
    (stock_answer, stock_abort), (plain_answer, plain_abort) = stock, plain
    assert plain_answer == stock_answer
    if stock_abort is None:
        assert plain_abort is None
    else:
        assert plain_abort is not None and plain_abort[0] == stock_abort[0]
        # The same error last, whichever conversion came first.
        assert plain_abort[1].strip().splitlines()[-1] == stock_abort[1].strip().splitlines()[-1]


@pytest.mark.parametrize("news", BAGS)
@pytest.mark.parametrize("olds", [BAGS[0], BAGS[1], BAGS[3]])
def test_check_and_diff_answer_as_the_stock_servicer(
    olds: dict[str, Any], news: dict[str, Any]
) -> None:
    stock, plain = _servicers()
    request_olds = _struct({**olds, "__provider": ECHO})
    request_news = _struct({**news, "__provider": ECHO})
    check = proto.CheckRequest(urn="urn:x", olds=request_olds, news=request_news)
    _same(_call(stock.Check, check), _call(plain.Check, check))
    diff = proto.DiffRequest(id="id-1", urn="urn:x", olds=request_olds, news=request_news)
    _same(_call(stock.Diff, diff), _call(plain.Diff, diff))


def test_the_plain_path_converts_what_it_can_and_hands_over_the_rest(monkeypatch) -> None:
    from pulumi.runtime import rpc

    stock, plain = _servicers()
    calls: list[str] = []
    generic = rpc.deserialize_properties
    monkeypatch.setattr(
        rpc, "deserialize_properties", lambda *a, **k: calls.append("sdk") or generic(*a, **k)
    )
    olds = _struct({"__provider": ECHO})
    request = proto.CheckRequest(
        urn="urn:x", olds=olds, news=_struct(BAGS[3] | {"__provider": ECHO})
    )
    assert plain.Check(request, Context()).inputs["default_filled"] == 14400
    assert calls == []  # plain: no generic conversion
    secret = proto.CheckRequest(
        urn="urn:x", olds=olds, news=_struct(BAGS[7] | {"__provider": ECHO})
    )
    _same(_call(stock.Check, secret), _call(plain.Check, secret))
    assert "sdk" in calls  # a secret: the stock method converted it


def test_an_unknown_provider_goes_to_the_stock_method() -> None:
    stock, plain = _servicers()
    request = proto.CheckRequest(
        urn="urn:x", olds=_struct({"__provider": ECHO}), news=_struct({"__provider": UNKNOWN})
    )
    _same(_call(stock.Check, request), _call(plain.Check, request))


def test_a_value_with_no_kind_goes_to_the_stock_method() -> None:
    stock, plain = _servicers()
    news = _struct({"__provider": ECHO})
    news.fields["unset"].CopyFrom(struct_pb2.Value())  # the SDK's reading refuses it
    request = proto.CheckRequest(urn="urn:x", olds=_struct({"__provider": ECHO}), news=news)
    _same(_call(stock.Check, request), _call(plain.Check, request))


SUBACCOUNT_INPUTS = {
    "account_key": "acme",
    "environment": "production",
    "role": "customer",
    "friendly_name": "Acme production [tlz:0123456789]",
    "tag": "0123456789",
}


@pytest.mark.parametrize(
    "news",
    [
        SUBACCOUNT_INPUTS,
        {**SUBACCOUNT_INPUTS, "status": "suspended", "state_mark": "abcdef"},
        {**SUBACCOUNT_INPUTS, "friendly_name": UNKNOWN},
        {**SUBACCOUNT_INPUTS, "role": "nobody", "tag": "short"},
    ],
)
def test_a_real_provider_answers_the_same(news: dict[str, Any]) -> None:
    stock, plain = _servicers()
    olds = _struct({**SUBACCOUNT_INPUTS, "status": "active", "__provider": SUBACCOUNT})
    request_news = _struct({**news, "__provider": SUBACCOUNT})
    check = proto.CheckRequest(urn="urn:x", olds=olds, news=request_news)
    stock_check, plain_check = _call(stock.Check, check), _call(plain.Check, check)
    _same(stock_check, plain_check)
    diff = proto.DiffRequest(id="AC" + "0" * 32, urn="urn:x", olds=olds, news=request_news)
    _same(_call(stock.Diff, diff), _call(plain.Diff, diff))
