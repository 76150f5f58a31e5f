"""The Pulumi CLI as the fleet runs it: each `pulumi` in a session of its own.

The Automation API starts `pulumi` in the caller's process group, so a Ctrl-C at the terminal
reaches every engine at once, and a second signal from the fleet (to stop a group it had not
told yet) would be each engine's second Ctrl-C: its hard stop, which leaves the stack locked.
Here each engine is in its own session and only the fleet decides what it receives: one
SIGINT (Pulumi's graceful cancel: in-flight steps finish, the state is saved, the lock
released), and a second one only when the operator presses Ctrl-C again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

from pulumi.automation import CommandResult, OnOutput, PulumiCommand
from pulumi.automation._cmd import _fixup_path  # the base class's own helper
from pulumi.automation.errors import create_command_error

ROOT = Path(__file__).resolve().parents[1]


def pulumi_path() -> str:
    """The checkout's engine (make setup), else the one on PATH."""
    local = ROOT / ".bin" / "pulumi"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which("pulumi")
    if found is None:
        raise FileNotFoundError("no pulumi CLI: run `make setup`")
    return found


class Interrupted(Exception):
    """The operator stopped the fleet before this command started."""


class SessionPulumiCommand(PulumiCommand):
    """PulumiCommand whose processes the fleet can interrupt one by one."""

    def __init__(self, *, preview_first: bool = False) -> None:
        self.preview_first = preview_first
        path = pulumi_path()
        # The base class finds `<root>/bin/pulumi` and checks its version once.
        original_path = os.environ.get("PATH", "")
        os.environ["PATH"] = f"{os.path.dirname(path)}{os.pathsep}{original_path}"
        try:
            super().__init__(skip_version_check=False)
        finally:
            os.environ["PATH"] = original_path
        self.command = path
        self._running: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self.interrupts_sent = 0

    @property
    def stopping(self) -> bool:
        return self.interrupts_sent > 0

    def interrupt(self) -> int:
        """SIGINT to every running `pulumi`; returns how many were told."""
        with self._lock:
            processes = [p for p in self._running if p.poll() is None]
            self.interrupts_sent += 1
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
        return len(processes)

    def running_pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._running if p.poll() is None]

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        # As PulumiCommand.run, with start_new_session and the process remembered.
        if self.preview_first and args[:1] == ["up"] and "--skip-preview" in args:
            # The Automation API's `up` always skips the preview, and with it the policy pack's
            # stack rules before any change (they then run after the steps). `--preview-first`
            # previews as `pulumi up --yes` does: a mandatory violation changes nothing.
            args = [arg for arg in args if arg != "--skip-preview"]
        if "--non-interactive" not in args[: args.index("--") if "--" in args else len(args)]:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        env = _fixup_path(env, os.path.dirname(self.command))
        stdout_chunks: list[str] = []
        stderr_chunks: list[str] = []

        def consume(stream, callback, chunks: list[str]) -> None:
            for line in iter(stream.readline, ""):
                stripped = line.rstrip()
                if callback:
                    callback(stripped)
                chunks.append(stripped)
            stream.close()

        with self._lock:
            # After a Ctrl-C nothing new starts: a group between two commands stops here.
            if self.interrupts_sent:
                raise Interrupted("stopped before `pulumi " + " ".join(args[1:3]) + "`")
            process = subprocess.Popen(
                [self.command, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
                encoding="utf-8",
                start_new_session=True,
            )
            self._running.add(process)
        with process:
            try:
                readers = [
                    threading.Thread(
                        target=consume, args=(process.stdout, on_output, stdout_chunks)
                    ),
                    threading.Thread(
                        target=consume, args=(process.stderr, on_error, stderr_chunks)
                    ),
                ]
                for reader in readers:
                    reader.start()
                for reader in readers:
                    reader.join()
                process.wait()
            finally:
                with self._lock:
                    self._running.discard(process)
        result = CommandResult(
            stderr="\n".join(stderr_chunks),
            stdout="\n".join(stdout_chunks),
            code=process.returncode,
        )
        if process.returncode != 0:
            raise create_command_error(result)
        return result
