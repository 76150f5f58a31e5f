"""Provider errors a person can act on, printed as their message alone.

pulumi.dynamic's servicer answers any exception a provider raises with
`traceback.format_exc()` as the gRPC error, and the engine prints that text whole: a Python
traceback in front of the line that matters. The providers raise one kind of error that is
meant for people (a Twilio or network failure, or a refusal, naming the resource, Twilio's code
and what to do: providers/errors.py); it carries `readable_without_traceback = True`.

In this process only (the provider host: nothing else runs here), `traceback.format_exc` is
wrapped: for such an error it returns the message; for anything else (a bug) it is the stock
function, traceback and all. `TLZ_DEBUG=1` leaves the stock function in place for everything.

Guarded like every patch of a third-party internal: it is installed only when the installed
SDK's servicer still reports errors through `traceback.format_exc()` (checked in its source,
and for the Pulumi SDK versions tested); otherwise the stock behaviour stays, with one warning
on stderr. tests/tools/test_provider_host_errors.py fails when an upgrade changes either.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

DEBUG_ENV = "TLZ_DEBUG"
MARKER = "readable_without_traceback"
# The SDK versions whose servicer was read for this (requirements.txt pins one of them).
TESTED_SDK_VERSIONS = frozenset({"3.272.0"})
# How pulumi.dynamic's servicer turns a provider's exception into the gRPC error.
SERVICER_REPORT = "context.abort(grpc.StatusCode.UNKNOWN, traceback.format_exc())"


def servicer_reports_with_format_exc() -> bool:
    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    if spec is None or spec.origin is None:
        return False
    return SERVICER_REPORT in Path(spec.origin).read_text()


def unsupported_reason() -> str | None:
    """Why the wrapper cannot be installed safely, or None when it can."""
    try:
        version = importlib.metadata.version("pulumi")
    except importlib.metadata.PackageNotFoundError:
        return "the pulumi SDK is not installed"
    if version not in TESTED_SDK_VERSIONS:
        tested = ", ".join(sorted(TESTED_SDK_VERSIONS))
        return f"pulumi SDK {version} is not one this was tested with ({tested})"
    if not servicer_reports_with_format_exc():
        return f"pulumi SDK {version}'s dynamic provider no longer reports errors as expected"
    return None


def readable_format_exc(stock: Callable[..., str]) -> Callable[..., str]:
    def format_exc(limit: int | None = None, chain: bool = True) -> str:
        error = sys.exc_info()[1]
        if error is not None and getattr(error, MARKER, False) is True:
            return str(error)
        return stock(limit=limit, chain=chain)

    format_exc.__wrapped__ = stock  # type: ignore[attr-defined]  # how to undo it
    return format_exc


def install(environ: Mapping[str, str]) -> bool:
    """Wrap `traceback.format_exc` for this process; True when installed."""
    if environ.get(DEBUG_ENV) == "1":
        return False
    reason = unsupported_reason()
    if reason is not None:
        print(
            f"provider host: provider errors keep their Python tracebacks ({reason}).",
            file=sys.stderr,
        )
        return False
    if not hasattr(traceback.format_exc, "__wrapped__"):
        traceback.format_exc = readable_format_exc(traceback.format_exc)
    return True
