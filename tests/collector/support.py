"""Helpers for the collector tests: signed callbacks, a collector served on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from urllib.parse import urlencode

import httpx
import uvicorn
from twilio.request_validator import RequestValidator

from collector.app import CollectorApp, CollectorConfig, build_app
from collector.events import StatusEvent, parse_form, status_event_from

REPO_ROOT = Path(__file__).resolve().parents[2]

PARENT_SID = "AC" + "a" * 32
PARENT_TOKEN = "parent-token-" + "0" * 19
SUB_SID = "AC" + "b" * 32
SUB_TOKEN = "sub-token-" + "1" * 22
OTHER_SUB_SID = "AC" + "c" * 32
OTHER_SUB_TOKEN = "other-token-" + "2" * 20
SERVICE_SID = "MG" + "d" * 32
OTHER_SERVICE_SID = "MG" + "e" * 32

_message_numbers = count(1)


def message_sid() -> str:
    return f"SM{next(_message_numbers):032x}"


def callback_params(
    account_sid: str,
    sid: str,
    status: str,
    *,
    sender: str = "+14155550100",
    service: str | None = SERVICE_SID,
    error_code: str | None = None,
    **extra: str,
) -> dict[str, str]:
    params = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": sender,
        "To": "+14155550199",
    }
    if service:
        params["MessagingServiceSid"] = service
    if error_code:
        params["ErrorCode"] = error_code
    params.update(extra)
    return params


def sign(url: str, params: dict[str, str] | list[tuple[str, str]], token: str) -> str:
    form = parse_form(urlencode(params).encode())
    return RequestValidator(token).compute_signature(url, form)


def event(
    account_sid: str, sid: str, status: str, at_s: float, **kwargs: str | None
) -> StatusEvent:
    """A parsed event received at `at_s` seconds past the epoch."""
    params = callback_params(account_sid, sid, status, **kwargs)  # type: ignore[arg-type]
    return status_event_from(parse_form(urlencode(params).encode()), received_at_us=int(at_s * 1e6))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningCollector:
    app: CollectorApp
    base_url: str

    @property
    def status_url(self) -> str:
        return self.base_url + self.app.config.status_path

    def post(
        self,
        params: dict[str, str] | list[tuple[str, str]],
        token: str | None,
        *,
        signed_url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a callback, signed for `signed_url` (default: the URL posted to)."""
        all_headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if token is not None:
            all_headers["X-Twilio-Signature"] = sign(signed_url or self.status_url, params, token)
        all_headers.update(headers or {})
        return httpx.post(
            self.status_url, content=urlencode(params).encode(), headers=all_headers, timeout=10
        )


@contextmanager
def running_collector(config: CollectorConfig) -> Iterator[RunningCollector]:
    """The collector app served by uvicorn in a thread, on a free loopback port."""
    app = build_app(config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="collector-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the collector did not start")
        time.sleep(0.01)
    try:
        yield RunningCollector(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class CollectorProcess:
    """`python -m collector serve` as a subprocess (the CLI exactly as a user runs it)."""

    process: subprocess.Popen
    base_url: str
    log_path: Path

    @property
    def status_url(self) -> str:
        return self.base_url + "/twilio/status"

    def health(self) -> dict:
        return httpx.get(self.base_url + "/healthz", timeout=5).json()

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")


def collector_environment(emulator_url: str) -> dict[str, str]:
    """No Twilio credentials: the collector falls back to the emulator, as the providers do."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env["TWILIO_EMULATOR_URL"] = emulator_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def collector_cli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


@contextmanager
def collector_process(
    database_url: str,
    env: dict[str, str],
    workdir: Path,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
) -> Iterator[CollectorProcess]:
    port = port or free_port()
    log_path = workdir / "collector.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "collector",
                "serve",
                "--port",
                str(port),
                "--db",
                database_url,
                *extra_args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = CollectorProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the collector exited at start:\n{running.log()}")
            try:
                if running.health()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the collector did not start:\n{running.log()}")
            time.sleep(0.05)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
