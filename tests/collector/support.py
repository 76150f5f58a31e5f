"""Helpers for the collector tests: signed callbacks, a collector served on a free port."""

from __future__ import annotations

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

# The collector process runner lives in devkit (bench uses it too); tests import it from here.
from devkit.collector_process import (  # noqa: F401
    CollectorProcess,
    collector_cli,
    collector_environment,
    collector_process,
    free_port,
)

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
def running_collector(config: CollectorConfig, **options: object) -> Iterator[RunningCollector]:
    """The collector app served by uvicorn in a thread, on a free loopback port (`options`:
    more of uvicorn's settings, e.g. `http=` the collector's gated protocol)."""
    app = build_app(config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
        )
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


def spawned_workers(pid: int) -> set[int]:
    """Worker processes that uvicorn spawned (not multiprocessing's resource tracker)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == pid and b"spawn_main" in command:
                children.add(int(entry.name))
    return children
