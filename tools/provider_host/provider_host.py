"""The `pulumi-python` provider host of this project, for the product and the benchmark alike:
Pulumi's own `python -m pulumi.dynamic` (same servicer, same provider code, same pickled
`__provider`), with these differences.

- It serves `TLZ_PROVIDER_WORKERS` provider operations at once (default 64). Pulumi's host
  hard-codes 4, which caps a whole stack at 4 creates/updates at once whatever `--parallel`
  says; Twilio is ~100 ms away, so that ceiling, not Twilio, would set the pace. Requests to
  Twilio stay bounded per account by twilio_access/transport.py.
- A provider error meant for people (providers/errors.py) reaches the engine as its message,
  without a Python traceback (readable_errors.py; `TLZ_DEBUG=1` keeps every traceback).
- It exits as soon as the engine that started it is gone. Pulumi starts plugins in process
  groups of their own, so a `pulumi` killed with SIGKILL would otherwise leave this process
  finishing the creates it had started while the next run starts them again.
- It collects garbage less often: the objects of its imports are frozen out of the collector's
  reach and the young generation is collected after 50,000 allocations instead of 700 (the
  program does the same, components/sdk_overhead.py). Every Check and Diff allocates a few
  hundred short-lived objects, and each older-generation pass walked every object of pulumi,
  grpc, twilio and pydantic again: about 9% of the host's CPU in a no-change check of a
  100-customer group (bench/README.md, "The policy check", fourth pass).
- With `TLZ_PROVIDER_TRACE=<dir>` it records one JSON line per provider call (and, with
  `TLZ_PROVIDER_PROFILE=1`, a CPU profile): what the benchmark reads (call_recorder.py).
- Check and Diff convert plain properties themselves instead of through the SDK's generic
  (and, for the answer, asynchronous) conversions: the engine calls Check for every resource
  in series, so that time was wall time of every preview (plain_calls.py says how it stays
  the same answer).
- Previews know what an in-place update keeps: a subaccount's SID stays known when only its
  name changes, so its keys, services and numbers preview as updates instead of replaces
  (provider_previews.py says how and why).

The worker count and the recorder replace functions of the SDK that `pulumi.dynamic` calls
(`grpc.server` with its 4-thread pool, `add_ResourceProviderServicer_to_server`), following the
project's pattern for patching a third-party internal: a version guard (`CHECKED_SDK_VERSIONS`;
any other SDK keeps Pulumi's own host and says so on stderr), a test that fails when the pinned
SDK changes, and a real-CLI test of the effect (tests/tools/test_provider_host.py: 16 creates
of 1 s each in one stack finish in under 2.5 s).

Pulumi.yaml points the engine at this directory (`plugins: providers:`).
"""

from __future__ import annotations

import gc
import importlib.util
import os
import runpy
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from concurrent import futures
from importlib.metadata import version
from pathlib import Path
from typing import Any

# The pulumi SDK releases whose `pulumi.dynamic` host these patches were checked against
# (requirements.txt pins it): `main()` calls `grpc.server(futures.ThreadPoolExecutor(
# max_workers=4), options=...)`, then `add_ResourceProviderServicer_to_server(servicer, server)`.
CHECKED_SDK_VERSIONS = frozenset({"3.272.0"})
STOCK_WORKERS = 4
DEFAULT_WORKERS = 64
WORKERS_ENV = "TLZ_PROVIDER_WORKERS"
TRACE_ENV = "TLZ_PROVIDER_TRACE"
PROFILE_ENV = "TLZ_PROVIDER_PROFILE"
# Set by our wrapper script: the engine's PID, read before this interpreter started.
ENGINE_PID_ENV = "TLZ_ENGINE_PID"


def warn(message: str) -> None:
    """The engine shows a plugin's stderr; the host keeps serving."""
    print(f"twilio-landing-zone provider host: {message}", file=sys.stderr, flush=True)


def engine_pid(environ: MutableMapping[str, str]) -> int:
    """The engine that started us: from the wrapper when it says, else our parent now. An
    engine killed while this interpreter was still starting has already re-parented us, so
    `getppid()` alone would name init (or a subreaper) and we would wait for it forever."""
    text = environ.pop(ENGINE_PID_ENV, "")
    return int(text) if text.isdigit() else os.getppid()


def exit_when_orphaned(parent: int, interval: float = 0.1) -> None:
    """Nobody would receive our results once the engine is gone: stop at once."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(70)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def sdk_is_checked(sdk_version: str | None = None) -> bool:
    found = sdk_version or version("pulumi")
    if found in CHECKED_SDK_VERSIONS:
        return True
    warn(
        f"pulumi SDK {found} is not one this host was checked against "
        f"({', '.join(sorted(CHECKED_SDK_VERSIONS))}): serving as Pulumi's own host "
        f"({STOCK_WORKERS} operations at once, no call records); re-check "
        "tools/provider_host/provider_host.py, then update CHECKED_SDK_VERSIONS"
    )
    return False


def workers_from(environ: Mapping[str, str]) -> int:
    """`TLZ_PROVIDER_WORKERS`, else the default; a bad value is named and the default kept."""
    text = environ.get(WORKERS_ENV) or ""
    if not text:
        return DEFAULT_WORKERS
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        warn(f"{WORKERS_ENV}={text!r} is not a positive whole number; using {DEFAULT_WORKERS}")
        return DEFAULT_WORKERS
    return workers


def serve_with_workers(workers: int, grpc_module: Any = None) -> bool:
    """Make `grpc.server` serve with `workers` threads instead of the pool the host passes;
    True when installed. A call that does not pass a thread pool first (the SDK changed its
    call) gets the stock server, with a warning."""
    if workers == STOCK_WORKERS:
        return False  # Pulumi's own number: nothing to change
    if grpc_module is None:
        import grpc

        grpc_module = grpc
    stock_server: Callable[..., Any] = grpc_module.server

    def server(executor: Any = None, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(executor, futures.ThreadPoolExecutor):
            warn(f"grpc.server got {type(executor).__name__}, not a thread pool: stock server")
            return stock_server(executor, *args, **kwargs)
        # pulumi.dynamic passes its own 4-thread pool; serve with ours instead.
        executor.shutdown(wait=False)
        return stock_server(futures.ThreadPoolExecutor(max_workers=workers), *args, **kwargs)

    grpc_module.server = server
    return True


def record_calls(trace_dir: Path, profile: bool) -> None:
    """Time (and optionally profile) every provider call: wrap the servicer's methods as the
    host registers it with its gRPC server."""
    from pulumi.runtime.proto import provider_pb2_grpc

    recorder = _load_call_recorder().Recorder(trace_dir, profile)
    stock_add = provider_pb2_grpc.add_ResourceProviderServicer_to_server

    def add(servicer: Any, grpc_server: Any) -> Any:
        recorder.instrument(servicer)
        return stock_add(servicer, grpc_server)

    provider_pb2_grpc.add_ResourceProviderServicer_to_server = add  # type: ignore[assignment]  # the same call, wrapped


def _load_call_recorder() -> Any:
    # By path: this directory is not a package, and the program's directory comes first on
    # sys.path (a module of the program could carry the same name).
    path = Path(__file__).with_name("call_recorder.py")
    spec = importlib.util.spec_from_file_location("tlz_provider_call_recorder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Allocations between two young-generation collections (Python's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def collect_garbage_less_often() -> None:
    """What is imported so far is never walked again; young garbage is collected in bigger,
    rarer batches. The host's own objects are short-lived, so memory stays where it was."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def main() -> None:
    exit_when_orphaned(engine_pid(os.environ))
    # `python -m pulumi.dynamic` runs with the program directory on sys.path (that is how the
    # pickled providers import); a script's sys.path[0] is its own folder instead.
    sys.path.insert(0, os.getcwd())
    workers = workers_from(os.environ)
    trace_dir = os.environ.get(TRACE_ENV)
    if sdk_is_checked():
        serve_with_workers(workers)
        if trace_dir:
            record_calls(Path(trace_dir), os.environ.get(PROFILE_ENV) == "1")
        # Installed last: its answers are what the recorder wraps, previews included.
        import plain_calls  # beside this script, as readable_errors below
        import provider_previews

        plain_calls.install()
        provider_previews.install(warn)
    # A Twilio failure reads as its one-line message, a bug keeps its traceback.
    import readable_errors  # beside this script (its folder is sys.path[0])

    readable_errors.install(os.environ)
    collect_garbage_less_often()
    # Pulumi's host: serves until the engine stops it (SIGINT -> KeyboardInterrupt -> return).
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
