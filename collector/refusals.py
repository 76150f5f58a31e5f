"""What the receiver does with requests it refuses: log them sparingly and answer them last.

A flood of forged callbacks shares the event loop with the estate's real ones. Refusing is
cheap (`events.plain_account_sid` lets an unknown account be refused before the form is
parsed), but the flood's answers still took turns with real callbacks. So refusals wait in a
`RefusalQueue` that answers one per loop iteration, after the work already queued: a client
that keeps a few connections busy with forged requests gets one answer per iteration, and a
real callback waits behind at most about one refusal instead of one per flooding connection.
Forged requests are not read any later than others (uvicorn reads and parses each as it
comes); only their answers wait, which also slows a flooding client down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque

log = logging.getLogger("collector")

REJECTION_LOG_INTERVAL_S = 10.0


class RejectionLog:
    """One log line per reason per interval, with how many were not logged: a flood of
    forged requests must not become a flood of log lines."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._quiet: Counter[str] = Counter()

    def note(self, status: int, reason: str, detail: str) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, float("-inf")) < REJECTION_LOG_INTERVAL_S:
            self._quiet[reason] += 1
            return
        self._last[reason] = now
        quiet = self._quiet.pop(reason, 0)
        more = f" ({quiet} more since the last line)" if quiet else ""
        log.info("answered %d: %s: %s%s", status, reason, detail, more)


class RefusalQueue:
    """Refused requests wait for `turn()`; one turn is given per event-loop iteration, in
    arrival order. (A callback scheduled with `call_soon` runs after everything already
    ready, so each turn comes after the I/O and callbacks of the iteration before it.)"""

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._scheduled = False
        self.most_waiting = 0  # the deepest the queue has been: for /healthz

    def turn(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiting.append(future)
        self.most_waiting = max(self.most_waiting, len(self._waiting))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._give_turn, loop)
        return future

    def _give_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():  # done: cancelled, the client went away
                future.set_result(None)
                break
        if self._waiting:
            loop.call_soon(self._give_turn, loop)
        else:
            self._scheduled = False
