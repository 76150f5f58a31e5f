"""Fault injection and the other knobs reliability tests turn at run time.

Every Twilio request asks the `FaultEngine` for a `FaultPlan` before it runs: latency (awaited,
so other requests keep flowing), a failure instead of the request (429 with Retry-After, 5xx, or
a dropped connection), or a failure after the write committed ("unknown outcome": the record
exists but the caller never hears so; that is the case that makes twins when retried blindly).
Draws come from one seeded RNG, so a sequential test sees the same faults on every run.
"""

from __future__ import annotations

import dataclasses
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from emulator import defaults

WRITE_METHODS = frozenset({"POST", "DELETE"})
FAULT_KINDS = ("429", "500", "503", "drop", "commit_then_500", "commit_then_drop")
COMMIT_THEN_FAIL_MODES = ("500", "drop", "mixed")


class DropConnection(BaseException):
    """Raised by an endpoint to close the client's connection without an answer.

    A BaseException so that Starlette's error middleware (which handles `Exception`) lets it
    through to the outermost ASGI wrapper, which owns the raw connection.
    """


@dataclass
class RuntimeSettings:
    """Knobs settable from the CLI and, while running, through POST /_emulator/faults."""

    rate_429: float = 0.0
    retry_after_seconds: int = 1
    # Requests one account (the Basic-auth username that signs them) may have in flight; one
    # more is answered 429 with code 20429 and Retry-After, as Twilio's concurrency limit
    # does. 0: no cap.
    account_concurrency_limit: int = 0
    rate_5xx: float = 0.0
    rate_commit_then_fail: float = 0.0
    commit_then_fail_mode: str = "mixed"
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    eventual_consistency_ms: float = 0.0
    seed: int | None = None
    # Faults (not latency) apply only to requests whose path matches and whose method is listed.
    path_pattern: str | None = None
    methods: list[str] | None = None
    # Forced faults for the next matching requests, consumed in order (deterministic tests).
    script: list[str] = field(default_factory=list)
    # Path patterns: the first write to a path matching each one commits, then fails as
    # `commit_then_fail_mode` says (so a fault matrix loses a create of every type for sure).
    commit_then_fail_first: list[str] = field(default_factory=list)
    # Message delivery.
    lifecycle_step_ms: float = defaults.DEFAULT_LIFECYCLE_STEP_MS
    message_failed_rate: float = defaults.DEFAULT_MESSAGE_FAILED_RATE
    message_undelivered_rate: float = defaults.DEFAULT_MESSAGE_UNDELIVERED_RATE
    callback_attempts: int = defaults.DEFAULT_CALLBACK_ATTEMPTS
    callback_retry_ms: float = defaults.DEFAULT_CALLBACK_RETRY_MS
    # Random extra delay per callback, so callbacks can arrive out of order (collector tests).
    callback_jitter_ms: float = 0.0
    # A2P 10DLC: time between automatic review steps, and whether unregistered US 10DLC traffic
    # fails with 30034 (off until the demo and the stacks declare their registrations).
    registration_step_ms: float = defaults.DEFAULT_REGISTRATION_STEP_MS
    a2p_gating: bool = False
    # Number transfers into these gaining accounts (SIDs; "*" for any) are refused as Twilio
    # refuses one that needs a regulatory bundle the gaining account lacks (21649).
    transfers_require_bundle: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        for name in (
            "rate_429",
            "rate_5xx",
            "rate_commit_then_fail",
            "message_failed_rate",
            "message_undelivered_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.message_failed_rate + self.message_undelivered_rate > 1.0:
            raise ValueError("message_failed_rate + message_undelivered_rate must not exceed 1")
        for name in (
            "latency_ms",
            "latency_jitter_ms",
            "eventual_consistency_ms",
            "lifecycle_step_ms",
            "callback_retry_ms",
            "callback_jitter_ms",
            "registration_step_ms",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 600_000:
                raise ValueError(f"{name} must be between 0 and 600000")
        if not 0 <= self.account_concurrency_limit <= 100_000:
            raise ValueError("account_concurrency_limit must be between 0 (no cap) and 100000")
        if not 0 <= self.retry_after_seconds <= 3600:
            raise ValueError("retry_after_seconds must be between 0 and 3600")
        if not 1 <= self.callback_attempts <= 20:
            raise ValueError("callback_attempts must be between 1 and 20")
        if self.commit_then_fail_mode not in COMMIT_THEN_FAIL_MODES:
            raise ValueError(f"commit_then_fail_mode must be one of {COMMIT_THEN_FAIL_MODES}")
        unknown = [kind for kind in self.script if kind not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds in script: {unknown}; known: {FAULT_KINDS}")
        if self.path_pattern is not None:
            try:
                re.compile(self.path_pattern)
            except re.error as exc:
                raise ValueError(f"path_pattern is not a valid regular expression: {exc}") from exc
        for pattern in self.commit_then_fail_first:
            try:
                re.compile(pattern)
            except re.error as exc:
                problem = f"commit_then_fail_first: {pattern!r} is not valid: {exc}"
                raise ValueError(problem) from exc
        if self.methods is not None and not all(isinstance(m, str) for m in self.methods):
            raise ValueError("methods must be a list of HTTP method names")

    def updated(self, changes: dict[str, Any]) -> RuntimeSettings:
        """A copy with `changes` applied; refuses unknown names and wrong types."""
        known = {f.name: f for f in dataclasses.fields(self)}
        values = self.as_dict()
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown setting {name!r}; known: {sorted(known)}")
            values[name] = _coerce(name, value, values[name])
        result = RuntimeSettings(**values)
        result.validate()
        return result


def _coerce(name: str, value: Any, current: Any) -> Any:
    numeric = {
        "rate_429",
        "rate_5xx",
        "rate_commit_then_fail",
        "latency_ms",
        "latency_jitter_ms",
        "eventual_consistency_ms",
        "lifecycle_step_ms",
        "message_failed_rate",
        "message_undelivered_rate",
        "callback_retry_ms",
        "callback_jitter_ms",
        "registration_step_ms",
    }
    integers = {"retry_after_seconds", "callback_attempts", "account_concurrency_limit"}
    if name in numeric:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number")
        return float(value)
    if name in integers:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer")
        return value
    if name == "a2p_gating":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if name == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("seed must be an integer or null")
        return value
    if name in ("path_pattern", "commit_then_fail_mode"):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        return value
    if name in ("methods", "script", "transfers_require_bundle", "commit_then_fail_first"):
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise ValueError(f"{name} must be a list of strings")
        if name == "methods" and value is not None:
            return [v.upper() for v in value]
        return value if value is not None else (None if name == "methods" else [])
    return current


@dataclass(frozen=True)
class FaultPlan:
    latency_s: float = 0.0
    before: str | None = None  # "429" | "500" | "503" | "drop": instead of the request
    after: str | None = None  # "500" | "drop": after a successful write committed


NO_FAULT = FaultPlan()


class FaultEngine:
    def __init__(self, settings: RuntimeSettings) -> None:
        self._initial = settings
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._path_re = re.compile(settings.path_pattern) if settings.path_pattern else None
        # Eventual consistency: SID -> monotonic time until which reads must not see it.
        self._hidden_until: dict[str, float] = {}
        # Patterns of `commit_then_fail_first` whose first write has had its fault.
        self._first_spent: set[str] = set()

    def apply(self, settings: RuntimeSettings, *, reseed: bool = False) -> None:
        """New settings; `reseed` restarts the random sequence (any request naming a seed)."""
        reseed = reseed or settings.seed != self.settings.seed
        if settings.commit_then_fail_first != self.settings.commit_then_fail_first:
            self._first_spent.clear()
        self.settings = settings
        self._path_re = re.compile(settings.path_pattern) if settings.path_pattern else None
        if reseed:
            self._rng = random.Random(settings.seed)
        if settings.eventual_consistency_ms <= 0:
            self._hidden_until.clear()

    def reset(self) -> None:
        self.settings = self._initial
        self._rng = random.Random(self._initial.seed)
        self._path_re = (
            re.compile(self._initial.path_pattern) if self._initial.path_pattern else None
        )
        self._hidden_until.clear()
        self._first_spent.clear()

    def _applies_to(self, method: str, path: str) -> bool:
        s = self.settings
        if s.methods is not None and method not in s.methods:
            return False
        return self._path_re is None or self._path_re.search(path) is not None

    def plan(self, method: str, path: str) -> FaultPlan:
        s = self.settings
        latency = s.latency_ms
        if s.latency_jitter_ms:
            latency += self._rng.uniform(0.0, s.latency_jitter_ms)
        latency_s = latency / 1000.0
        if not self._applies_to(method, path):
            return FaultPlan(latency_s=latency_s) if latency_s else NO_FAULT
        is_write = method in WRITE_METHODS
        if s.script:
            kind = s.script.pop(0)
            if kind.startswith("commit_then_"):
                # A scripted commit-then-fail on a read degrades to failing the read itself.
                after = kind.removeprefix("commit_then_")
                return FaultPlan(
                    latency_s, before=None if is_write else after, after=after if is_write else None
                )
            return FaultPlan(latency_s, before=kind)
        if is_write and s.commit_then_fail_first:
            for pattern in s.commit_then_fail_first:
                if pattern not in self._first_spent and re.search(pattern, path):
                    self._first_spent.add(pattern)
                    return FaultPlan(latency_s, after=self._commit_then_fail_mode())
        if s.rate_429 and self._rng.random() < s.rate_429:
            return FaultPlan(latency_s, before="429")
        if s.rate_5xx and self._rng.random() < s.rate_5xx:
            return FaultPlan(latency_s, before=self._rng.choice(("500", "503")))
        if is_write and s.rate_commit_then_fail and self._rng.random() < s.rate_commit_then_fail:
            return FaultPlan(latency_s, after=self._commit_then_fail_mode())
        return FaultPlan(latency_s=latency_s) if latency_s else NO_FAULT

    def _commit_then_fail_mode(self) -> str:
        mode = self.settings.commit_then_fail_mode
        return self._rng.choice(("500", "drop")) if mode == "mixed" else mode

    # --- eventual consistency -----------------------------------------------------------------

    def note_created(self, sid: str) -> None:
        window = self.settings.eventual_consistency_ms
        if window <= 0:
            return
        moment = time.monotonic()
        if len(self._hidden_until) >= 10_000:  # forget expired entries nobody read again
            self._hidden_until = {s: t for s, t in self._hidden_until.items() if t > moment}
        self._hidden_until[sid] = moment + window / 1000.0

    def is_hidden(self, sid: str) -> bool:
        if not self._hidden_until:
            return False
        deadline = self._hidden_until.get(sid)
        if deadline is None:
            return False
        if time.monotonic() >= deadline:
            del self._hidden_until[sid]
            return False
        return True
