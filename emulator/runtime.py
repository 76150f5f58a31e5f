"""The emulator's shared state and the per-request context that API handlers receive."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator import defaults
from emulator.auth import Principal, reach_account
from emulator.faults import FaultEngine, RuntimeSettings
from emulator.store import Record, Store
from emulator.wire import Params, is_sid, not_found

if TYPE_CHECKING:
    from emulator.lifecycle import Lifecycle
    from emulator.registrations import Registrations

# An API handler answers (HTTP status, JSON body or None for 204).
Reply = tuple[int, Any]
Handler = Callable[["Call"], Reply]


@dataclass(frozen=True)
class EmulatorConfig:
    db_path: str
    account_sid: str
    auth_token: str
    default_service: bool
    settings: RuntimeSettings
    # Twilio's cap on a parent's open subaccounts; Twilio support raises it for ISVs on request.
    max_subaccounts: int = defaults.MAX_SUBACCOUNTS


@dataclass
class Stats:
    """Request counts per route template, for benchmarks that report Twilio calls per operation.

    `writes` counts POST and DELETE requests to Twilio routes whatever their outcome (a
    read-only tool proves itself by leaving it at 0). `in_flight` / `in_flight_peak` count the
    requests being served per Basic-auth username (the account SID or key SID that signed
    them), latency included: what a client's per-account concurrency limit must stay under.
    """

    by_route: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    # Writes that committed and whose answer was then lost, per route.
    lost_answers: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    in_flight: Counter[str] = field(default_factory=Counter)
    in_flight_peak: Counter[str] = field(default_factory=Counter)
    # Requests refused because their account already had its cap in flight, per account.
    over_concurrency: Counter[str] = field(default_factory=Counter)
    # Requests per account whose data they touch: the AccountSid in the path, else the signer
    # (so a benchmark can tell which customers' accounts an operation read).
    by_account: Counter[str] = field(default_factory=Counter)

    def request_started(self, method: str, username: str) -> None:
        if method in ("POST", "DELETE"):
            self.writes += 1
        self.in_flight[username] += 1
        if self.in_flight[username] > self.in_flight_peak[username]:
            self.in_flight_peak[username] = self.in_flight[username]

    def request_finished(self, username: str) -> None:
        self.in_flight[username] -= 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "total": sum(self.by_route.values()),
            "writes": self.writes,
            "routes": dict(sorted(self.by_route.items())),
            "statuses": dict(sorted(self.by_status.items())),
            "faults": dict(sorted(self.faults.items())),
            "lost_answers": dict(sorted(self.lost_answers.items())),
            "in_flight_peak": dict(sorted(self.in_flight_peak.items())),
            "over_concurrency": dict(sorted(self.over_concurrency.items())),
            "by_account": dict(sorted(self.by_account.items())),
        }


class Emulator:
    def __init__(self, config: EmulatorConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.faults = FaultEngine(config.settings)
        self.stats = Stats()
        self.lifecycle: Lifecycle | None = None
        self.registrations: Registrations | None = None

    @property
    def settings(self) -> RuntimeSettings:
        return self.faults.settings

    def create(
        self,
        kind: str,
        sid: str,
        account_sid: str,
        doc: dict[str, Any],
        *,
        container_sid: str | None = None,
        unique_key: str | None = None,
    ) -> Record:
        """Store a new resource; reads may not see it yet (eventual-consistency fault)."""
        record = self.store.insert(
            kind, sid, account_sid, doc, container_sid=container_sid, unique_key=unique_key
        )
        self.faults.note_created(sid)
        return record

    def visible(self, record: Record | None) -> Record | None:
        """Reads honour the eventual-consistency fault: a fresh record may not be seen yet."""
        if record is None or self.faults.is_hidden(record.sid):
            return None
        return record


@dataclass(frozen=True)
class Operation:
    method: str
    handler: Handler
    # Permission a restricted key needs ("/twilio/<product>/<resource>/<action>"); None means
    # no restricted key can be granted this operation.
    permission: str | None
    # Accounts and Keys endpoints: refused to standard and restricted keys.
    account_admin: bool = False


@dataclass(frozen=True)
class Endpoint:
    path: str  # Starlette template including the domain prefix, e.g. /messaging/v1/Services
    operations: tuple[Operation, ...]


@dataclass
class Call:
    """Everything a handler needs about one request."""

    emulator: Emulator
    principal: Principal
    params: Params
    path_params: dict[str, str]
    method: str
    path: str  # as requested, with the /<domain> prefix
    origin: str  # scheme://host[:port] the client used to reach the emulator
    account: Record | None = None  # the v2010 {AccountSid} of the path, once reached

    @property
    def store(self) -> Store:
        return self.emulator.store

    @property
    def twilio_path(self) -> str:
        """The path as Twilio spells it (no /<domain> prefix): v2010 URIs are relative to it."""
        return "/" + self.path.lstrip("/").partition("/")[2]

    @property
    def domain(self) -> str:
        return self.path.lstrip("/").partition("/")[0]

    def absolute(self, twilio_path: str) -> str:
        """An absolute URL on the emulator's own host for a v1 path of this request's domain."""
        return f"{self.origin}/{self.domain}{twilio_path}"

    def reach(self, account_sid: str) -> Record:
        return reach_account(self.store, self.principal, account_sid, self.twilio_path)

    def find(
        self,
        kind: str,
        sid: str,
        *prefixes: str,
        account_sid: str | None = None,
        container_sid: str | None = None,
    ) -> Record:
        """A resource in the given account (or pool), else Twilio's 404: another account's
        SID looks exactly like an unknown one."""
        record = self.store.get(sid, kind) if is_sid(sid, *prefixes) else None
        if record is not None and (
            (account_sid is not None and record.account_sid != account_sid)
            or (container_sid is not None and record.container_sid != container_sid)
        ):
            record = None
        return self.visible(record)

    def visible(self, record: Record | None) -> Record:
        """The record, or Twilio's 404. Only reads (GET) are eventually consistent."""
        seen = self.emulator.visible(record) if self.method == "GET" else record
        if seen is None:
            raise not_found(self.twilio_path)
        return seen

    @property
    def lifecycle(self) -> Lifecycle:
        assert self.emulator.lifecycle is not None
        return self.emulator.lifecycle

    @property
    def registrations(self) -> Registrations:
        assert self.emulator.registrations is not None
        return self.emulator.registrations
