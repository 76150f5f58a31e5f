"""`serve --workers N`: the collector as N processes behind one listening socket.

uvicorn's own multi-process mode: this (parent) process binds the socket and supervises; each
worker process inherits it, accepts on it, and builds the whole app (its own event loop,
group-commit writer, refusal budget and account list) from the COLLECTOR_* environment the
parent set (`collector.worker_app.app_from_environment`). The kernel spreads the connections
over the workers' accepts.

What this module adds to uvicorn's supervisor:

- `/metrics` for the whole collector: a fresh PROMETHEUS_MULTIPROC_DIR per start (removed at
  exit), set before any worker starts, so every worker's prometheus_client values live in
  files that any worker's scrape merges (`collector.shared_metrics`);
- a killed parent leaves no worker behind: each worker asks the kernel for SIGTERM when its
  parent dies (Linux `PR_SET_PDEATHSIG`; elsewhere a thread watches the parent's pid), and
  SIGTERM is uvicorn's graceful stop: the listening socket closes, in-flight callbacks get
  their commit and answer, the writer commits what it accepted;
- a port that a stopping collector still holds (its workers close their sockets a moment after
  it died) is waited for, up to `BIND_RETRY_S`, instead of failing the start at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from typing import Any

log = logging.getLogger("collector")

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set in a worker's environment by the parent: the parent's pid, watched by the worker.
PARENT_PID_ENV = "COLLECTOR_PARENT_PID"
BIND_RETRY_S = 5.0
# uvicorn's supervisor pings each worker every 0.5 s and kills one that has not answered in this
# long (its default, 5 s, is within reach of a worker starved of CPU on a loaded machine).
WORKER_HEALTHCHECK_S = 30
_PARENT_POLL_S = 0.25
_PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """One worker per core this process may run on (the machine's size, or its CPU quota's
    affinity set)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def bind_listening_socket(host: str, port: int, retry_s: float = BIND_RETRY_S) -> socket.socket:
    """The socket the workers accept on, bound as uvicorn binds it; EADDRINUSE is retried
    for `retry_s` (the workers of a collector that was just killed let go of it at once, but
    not in the same instant)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + retry_s
    while True:
        sock = socket.socket(family=family)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return sock
        except OSError as error:
            sock.close()
            if error.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def run_workers(factory: str, workers: int, options: dict[str, Any]) -> int:
    """Serve `factory` (an import string of an app factory) with `workers` processes until
    SIGINT/SIGTERM; every worker has stopped (and flushed) when this returns."""
    from uvicorn import Config
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    metrics_dir = tempfile.mkdtemp(prefix="collector-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = metrics_dir
    os.environ[PARENT_PID_ENV] = str(os.getpid())
    try:
        config = Config(
            factory,
            factory=True,
            workers=workers,
            **{"timeout_worker_healthcheck": WORKER_HEALTHCHECK_S, **options},
        )
        try:
            sock = bind_listening_socket(config.host, config.port)
        except OSError as error:
            where = f"{config.host}:{config.port}"
            print(f"collector: cannot listen on {where}: {error}", file=sys.stderr)
            return 1
        with sock:
            # Multiprocess starts the workers, restarts one that dies, and on SIGINT/SIGTERM
            # sends each SIGTERM and waits for it.
            supervisor = Multiprocess(config, sockets=[sock])
            supervisor.run()
        # It also stops when a worker failed before serving (the app could not start, e.g. its
        # database is unreachable): a failed run, as one process's `uvicorn.run` reports it.
        if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
            return 1
        return 0
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def exit_with_parent() -> None:
    """In a worker: SIGTERM (graceful) to this process when the supervising parent dies."""
    expected = os.environ.get(PARENT_PID_ENV)
    if not expected:
        return  # not started by `run_workers`
    parent = int(expected)
    if not _ask_kernel_for_sigterm_on_parent_death():
        threading.Thread(
            target=_watch_parent, args=(parent,), name="collector-parent-watch", daemon=True
        ).start()
    # The parent may have died before the request above was made: the signal would never come.
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _ask_kernel_for_sigterm_on_parent_death() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    log.warning("the supervising process %d is gone: stopping this worker", parent)
    os.kill(os.getpid(), signal.SIGTERM)
