"""How the language host starts programs and policy packs so that none outlives it.

- Each child leads a process group of its own, so stopping it stops whatever it started too
  (`kill_group`); the host does that as soon as the CLI that started it is gone.
- Should the host itself be killed with SIGKILL, nothing of it runs any more: on Linux each
  child asks the kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`, kept across
  exec). A small interpreter does that and then execs the real command (`TIE_TO_PARENT`):
  done in the host between fork and exec instead (`preexec_fn`), it crashed children now and
  then (SIGSEGV), as Python code after fork in a process full of gRPC threads may.
- The kernel sends that signal when the *thread* that forked the child ends, not the
  process, so every child is started from one thread that lives as long as the host
  (`ChildStarter`): a gRPC worker thread retired by its pool would otherwise kill the program
  it had started in the middle of a run.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

# argv: <the host's PID> <command...>. Asks for SIGKILL when the host dies (1 is
# PR_SET_PDEATHSIG in <linux/prctl.h>), exits if the host died before that, then becomes the
# command. -I -S: no site-packages, no environment, so it starts in milliseconds.
TIE_TO_PARENT = (
    "import ctypes, os, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]): os._exit(70)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def tied_to_this_process(command: Sequence[str]) -> list[str]:
    """`command`, run so that it dies with this process (on Linux; elsewhere as it is)."""
    if not sys.platform.startswith("linux"):
        return list(command)
    return [sys.executable, "-I", "-S", "-c", TIE_TO_PARENT, str(os.getpid()), *command]


class ChildStarter:
    """Starts every child from one long-lived thread (see the module's docstring)."""

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[Sequence[str], dict[str, Any], Future]] = queue.Queue()
        threading.Thread(target=self._serve, name="child-starter", daemon=True).start()

    def start(self, command: Sequence[str], **popen_arguments: Any) -> subprocess.Popen[bytes]:
        started: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((command, popen_arguments, started))
        return started.result()

    def _serve(self) -> None:
        while True:
            command, popen_arguments, started = self._requests.get()
            try:
                child = subprocess.Popen(
                    tied_to_this_process(command), process_group=0, **popen_arguments
                )
            except BaseException as error:  # handed to the caller, which reports it
                started.set_exception(error)
            else:
                started.set_result(child)


def kill_group(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL `child` and every process still in its group (what it started). Only while
    the child is not reaped: its PID (the group's ID) cannot be anyone else's until then."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
