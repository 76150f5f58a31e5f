"""The `pulumi-python` provider host of this project: Pulumi's own `python -m pulumi.dynamic`
(same servicer, same provider code, same pickled `__provider`), with three differences.

- It serves `TLZ_PROVIDER_WORKERS` provider operations at once (default 64). Pulumi's host
  hard-codes 4, which caps a whole stack at 4 creates/updates at once whatever `--parallel`
  says; Twilio is ~100 ms away, so that ceiling, not Twilio, would set the pace. Requests to
  Twilio stay bounded per account by providers/transport.py.
- A provider error meant for people (providers/errors.py) reaches the engine as its message,
  without a Python traceback (readable_errors.py; `TLZ_DEBUG=1` keeps every traceback).
- It exits as soon as the engine that started it is gone. Pulumi starts plugins in process
  groups of their own, so a `pulumi` killed with SIGKILL would otherwise leave this process
  finishing the creates it had started while the next run starts them again.

Pulumi.yaml points the engine at this directory (`plugins: providers:`).
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time
from concurrent import futures

DEFAULT_WORKERS = 64


def exit_when_orphaned(parent: int, interval: float = 0.1) -> None:
    """Nobody would receive our results once the engine is gone: stop at once."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(70)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def serve_with_workers(workers: int) -> None:
    import grpc

    stock_server = grpc.server

    def server(executor, *args, **kwargs):
        # pulumi.dynamic passes its own 4-thread pool; serve with ours instead.
        executor.shutdown(wait=False)
        return stock_server(futures.ThreadPoolExecutor(max_workers=workers), *args, **kwargs)

    grpc.server = server


def main() -> None:
    exit_when_orphaned(os.getppid())
    # `python -m pulumi.dynamic` runs with the program directory on sys.path (that is how the
    # pickled providers import); a script's sys.path[0] is its own folder instead.
    sys.path.insert(0, os.getcwd())
    serve_with_workers(int(os.environ.get("TLZ_PROVIDER_WORKERS") or DEFAULT_WORKERS))
    # A Twilio failure reads as its one-line message, a bug keeps its traceback.
    import readable_errors  # beside this script (its folder is sys.path[0])

    readable_errors.install(os.environ)
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
