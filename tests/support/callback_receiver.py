"""A loopback HTTP server that records status callbacks (what Twilio would POST to a webhook).

with CallbackReceiver() as receiver:
    url = receiver.url("/status")             # give it as StatusCallback
    request = receiver.wait_for(lambda r: r.params["MessageStatus"] == "delivered")
    receiver.fail_next(2)                       # answer 500 to the next two requests
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    params: dict[str, str]
    received_at: float


class CallbackReceiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[ReceivedRequest] = []
        self._failures_left = 0
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                request = ReceivedRequest(
                    path=self.path,
                    headers={k: v for k, v in self.headers.items()},
                    params=dict(parse_qsl(body, keep_blank_values=True)),
                    received_at=time.monotonic(),
                )
                with receiver._lock:
                    receiver.requests.append(request)
                    failing = receiver._failures_left > 0
                    if failing:
                        receiver._failures_left -= 1
                    receiver._lock.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/status") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures_left = count

    def wait_for(
        self, predicate: Callable[[ReceivedRequest], bool], timeout: float = 10.0
    ) -> ReceivedRequest:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for request in self.requests:
                    if predicate(request):
                        return request
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching callback in {timeout}s; got {self.requests}")
                self._lock.wait(remaining)

    def matching(self, predicate: Callable[[ReceivedRequest], bool]) -> list[ReceivedRequest]:
        with self._lock:
            return [request for request in self.requests if predicate(request)]

    def __enter__(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
