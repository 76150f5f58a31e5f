"""The provider host's readable errors (tools/provider_host/readable_errors.py): its guard
holds for the installed Pulumi SDK (this fails when an upgrade changes how pulumi.dynamic
reports provider errors), the wrapped `format_exc` drops the traceback of readable errors
only, and `TLZ_DEBUG=1` leaves the stock function. The effect through the real CLI:
tests/e2e/landing_zone/test_provider_errors.py."""

from __future__ import annotations

import importlib.util
import traceback
from types import ModuleType

import pytest

from providers.errors import TwilioResourceError
from tests.support.pulumi_cli import PROVIDER_HOST_DIR


def load_readable_errors() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "readable_errors", PROVIDER_HOST_DIR / "readable_errors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def formatted(format_exc, error: BaseException) -> str:
    try:
        raise error
    except BaseException:
        return format_exc()


def test_the_guard_holds_for_the_installed_sdk() -> None:
    readable_errors = load_readable_errors()
    assert readable_errors.servicer_reports_with_format_exc()
    assert readable_errors.unsupported_reason() is None


def test_readable_errors_lose_their_traceback_and_bugs_keep_it() -> None:
    readable_errors = load_readable_errors()
    format_exc = readable_errors.readable_format_exc(traceback.format_exc)
    message = formatted(format_exc, TwilioResourceError("Subaccount", "acme", "failed", 20500))
    assert message == "Subaccount 'acme': Twilio error 20500: failed"
    bug = formatted(format_exc, KeyError("a bug"))
    assert bug.startswith("Traceback (most recent call last):") and "KeyError: 'a bug'" in bug


def test_install_wraps_once_and_tlz_debug_keeps_the_stock_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readable_errors = load_readable_errors()
    stock = traceback.format_exc
    monkeypatch.setattr(traceback, "format_exc", stock)  # restored after the test
    assert readable_errors.install({"TLZ_DEBUG": "1"}) is False
    assert traceback.format_exc is stock
    assert readable_errors.install({}) is True
    wrapped = traceback.format_exc
    assert wrapped is not stock and wrapped.__wrapped__ is stock
    assert readable_errors.install({}) is True and traceback.format_exc is wrapped


def test_an_untested_sdk_keeps_the_stock_behaviour_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readable_errors = load_readable_errors()
    stock = traceback.format_exc
    monkeypatch.setattr(traceback, "format_exc", stock)
    monkeypatch.setattr(readable_errors, "TESTED_SDK_VERSIONS", frozenset({"0.0.1"}))
    assert readable_errors.install({}) is False
    assert traceback.format_exc is stock
    assert "keep their Python tracebacks" in capsys.readouterr().err
