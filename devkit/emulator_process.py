"""Run `python -m emulator` as a subprocess (tests, bench): temp database, free port, health wait.

    with running_emulator(tmp_path) as emu:
        client = emu.client()                 # official twilio Client, parent credentials
        emu.set_faults(rate_429=1.0)          # admin API, see emulator/faults.py
        emu.restart()                         # same port and database

`EmulatorProcess` is also usable without the context manager (`start()` / `stop()`), e.g. in a
session-scoped fixture. Logs go to `<workdir>/emulator.log` and are quoted when start fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from twilio.rest import Client

from twilio_access.client import build_client
from twilio_access.dev_defaults import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")


class EmulatorError(RuntimeError):
    pass


class EmulatorProcess:
    def __init__(
        self,
        workdir: Path | str,
        *,
        account_sid: str = DEV_ACCOUNT_SID,
        auth_token: str = DEV_AUTH_TOKEN,
        extra_args: Sequence[str] = (),
        port: int = 0,
        db_path: Path | str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = Path(db_path) if db_path else self.workdir / "emulator.db"
        self.log_path = self.workdir / "emulator.log"
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.extra_args = list(extra_args)
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._url: str | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._url is None:
            raise EmulatorError("the emulator is not running")
        return self._url

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 20.0) -> EmulatorProcess:
        if self.running:
            return self
        command = [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            str(self.port),
            "--db",
            str(self.db_path),
            "--account-sid",
            self.account_sid,
            "--auth-token",
            self.auth_token,
            *self.extra_args,
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        log = self.log_path.open("ab")
        offset = log.tell()
        self._process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self._url = self._await_listening(offset, timeout)
        self.port = int(self._url.rsplit(":", 1)[1])
        self._await_healthy(timeout)
        return self

    def _log_text(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _await_listening(self, offset: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _LISTENING.search(self._log_text(offset))
            if match:
                return match.group(1)
            if self._process is not None and self._process.poll() is not None:
                raise EmulatorError(f"the emulator exited at start:\n{self._log_text(offset)}")
            time.sleep(0.02)
        self.kill()
        raise EmulatorError(f"the emulator did not start in {timeout}s:\n{self._log_text(offset)}")

    def _await_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.health().get("status") == "ok":
                    return
            except (OSError, EmulatorError):
                pass
            time.sleep(0.02)
        raise EmulatorError(f"the emulator is not healthy after {timeout}s:\n{self._log_text()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM), as a user's Ctrl-C would do."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        self._process = None
        self._url = None

    def kill(self) -> None:
        """Hard stop (SIGKILL): what a crash looks like to the database."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait(10)
        self._process = None
        self._url = None

    def restart(self, *, hard: bool = False, timeout: float = 20.0) -> EmulatorProcess:
        """Stop and start again on the same port and database."""
        if hard:
            self.kill()
        else:
            self.stop()
        try:
            return self.start(timeout)
        except EmulatorError:
            self.port = 0  # the old port was taken meanwhile: any free one will do
            return self.start(timeout)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- admin API ----------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise EmulatorError(
                f"{method} /_emulator/{path}: {error.code} {error.read()!r}"
            ) from error

    def health(self) -> dict[str, Any]:
        return self._admin("GET", "health")

    def stats(self) -> dict[str, Any]:
        """Request counts: {"total", "routes": {"POST /api/...": n}, "statuses", "faults"}."""
        return self._admin("GET", "stats")

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Change fault and delivery settings at run time (see emulator.faults.RuntimeSettings)."""
        return self._admin("POST", "faults", settings)

    def faults(self) -> dict[str, Any]:
        return self._admin("GET", "faults")

    def reset_faults(self) -> dict[str, Any]:
        """Back to the settings the process started with."""
        return self._admin("POST", "faults/reset", {})

    def callbacks(
        self, message_sid: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        query = "&".join(
            f"{name}={value}"
            for name, value in (("message_sid", message_sid), ("state", state))
            if value
        )
        return self._admin("GET", f"callbacks?{query}" if query else "callbacks")["callbacks"]

    def provision_short_code(
        self, account_sid: str | None = None, short_code: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"account_sid": account_sid or self.account_sid}
        if short_code:
            body["short_code"] = short_code
        return self._admin("POST", "short-codes", body)

    def create_main_key(self, account_sid: str | None = None) -> dict[str, Any]:
        return self._admin("POST", "main-keys", {"account_sid": account_sid or self.account_sid})

    # --- clients ------------------------------------------------------------------------------

    def client(
        self,
        username: str | None = None,
        password: str | None = None,
        account_sid: str | None = None,
        **options: Any,
    ) -> Client:
        """An official twilio Client routed to this emulator (parent credentials by default)."""
        return build_client(
            username or self.account_sid,
            password or self.auth_token,
            account_sid,
            emulator_url=self.url,
            **options,
        )


@contextmanager
def running_emulator(
    workdir: Path | str | None = None,
    *,
    extra_args: Sequence[str] = (),
    account_sid: str = DEV_ACCOUNT_SID,
    auth_token: str = DEV_AUTH_TOKEN,
    port: int = 0,
) -> Iterator[EmulatorProcess]:
    """A started emulator, stopped on exit; a temporary directory when `workdir` is None."""
    with tempfile.TemporaryDirectory(prefix="twilio-emulator-") as scratch:
        process = EmulatorProcess(
            workdir or scratch,
            account_sid=account_sid,
            auth_token=auth_token,
            extra_args=extra_args,
            port=port,
        )
        process.start()
        try:
            yield process
        finally:
            process.stop()
