"""Readable names for SIDs: what the stack declared (tenant, display name, environment, use
case, logical name), from the program's `names` stack output.

Identity tags are one-way hashes, so names cannot be derived from what Twilio holds; the
program exports the map and the collector reads it from a file, written by
`pulumi stack output --json > FILE` (all outputs; the `names` one is used) or
`pulumi stack output names --json > FILE`. The collector never imports the program or reads
Pulumi state. Several files (one per stack) merge. Files are re-read when they change, so a
collector started before `pulumi up` picks the names up afterwards.

Accounts in no map fall back to Twilio's FriendlyName (`collector.accounts`, stored in the
`account_names` table by the serving collector); anything else keeps its SID.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)

NAMES_ENV = "COLLECTOR_NAMES"  # files, separated by os.pathsep
NAMES_OUTPUT = "names"  # the stack output's name
RECHECK_S = 0.25  # how often the files' modification times are looked at (a stat each)

Kind = Literal["subaccount", "service", "default_service", "phone_number"]


class NameEntry(BaseModel):
    """One object of the stack, as the program exports it (unknown fields ignored: a newer
    program may say more)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Kind
    tenant: str
    display_name: str | None = None
    environment: str | None = None
    use_case: str | None = None
    logical_name: str | None = None
    phone_number: str | None = None  # numbers: the E.164 number that callbacks carry as From
    stack: str | None = None


@dataclass(frozen=True)
class Label:
    """What a report row is called. `source`: `stack` (the name map), `twilio` (the account's
    FriendlyName) or None (nothing known: the SID speaks for itself)."""

    name: str | None = None
    tenant: str | None = None
    display_name: str | None = None
    environment: str | None = None
    use_case: str | None = None
    source: str | None = None


NO_LABEL = Label()


class NameMapError(ValueError):
    """A name-map file that cannot be used at all (unreadable, not JSON, no map in it)."""


def parse_name_map(data: object, origin: str) -> tuple[dict[str, NameEntry], list[str]]:
    """Entries by SID, and one problem line per entry that was skipped."""
    if isinstance(data, Mapping) and isinstance(data.get(NAMES_OUTPUT), Mapping):
        data = data[NAMES_OUTPUT]  # `pulumi stack output --json`: every output
    if not isinstance(data, Mapping):
        raise NameMapError(f"{origin}: no '{NAMES_OUTPUT}' map (expected the stack's outputs)")
    entries: dict[str, NameEntry] = {}
    problems = []
    for sid, raw in data.items():
        try:
            entries[str(sid)] = NameEntry.model_validate(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "entry"
            problems.append(f"{origin}: {sid}.{where}: {first['msg']} (entry skipped)")
    return entries, problems


def load_name_map_file(path: Path) -> tuple[dict[str, NameEntry], list[str]]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NameMapError(f"{path}: not a readable JSON file: {error}") from None
    return parse_name_map(data, str(path))


class NameMap:
    """The merged maps, indexed for each report grouping."""

    def __init__(
        self,
        entries: Mapping[str, NameEntry] | None = None,
        friendly_names: Mapping[str, str] | None = None,
    ) -> None:
        self.entries = dict(entries or {})
        self.friendly_names = dict(friendly_names or {})
        self.by_number = {
            entry.phone_number: entry
            for entry in self.entries.values()
            if entry.kind == "phone_number" and entry.phone_number
        }
        self.account_sids = frozenset(
            sid for sid, entry in self.entries.items() if entry.kind == "subaccount"
        )

    def with_friendly_names(self, friendly_names: Mapping[str, str]) -> NameMap:
        return NameMap(self.entries, {**self.friendly_names, **friendly_names})

    def tenant_of(self, account_sid: str) -> str | None:
        entry = self.entries.get(account_sid)
        return entry.tenant if entry else None

    def use_case_of(self, service_sid: str) -> str | None:
        entry = self.entries.get(service_sid)
        return entry.use_case if entry else None

    def tenant_entry(self, tenant: str) -> NameEntry | None:
        for entry in self.entries.values():
            if entry.kind == "subaccount" and entry.tenant == tenant:
                return entry
        return None

    def label(self, grouping: str, key: str) -> Label:
        """The label of a report row keyed by `key` under `grouping`."""
        if grouping in ("account", "service"):
            entry = self.entries.get(key)
            if entry is not None:
                return _label_of(entry)
            friendly = self.friendly_names.get(key)
            return Label(name=friendly, source="twilio") if friendly else NO_LABEL
        if grouping == "sender":
            entry = self.by_number.get(key) or self.entries.get(key)
            return _label_of(entry) if entry else NO_LABEL
        if grouping == "tenant":
            entry = self.tenant_entry(key)
            if entry is not None:
                return _label_of(entry)
            friendly = self.friendly_names.get(key)
            return Label(name=friendly, source="twilio") if friendly else NO_LABEL
        if grouping == "use_case":
            # A use case the map named; a service SID in no map, or none, stays a bare key.
            named = key in {entry.use_case for entry in self.entries.values()}
            return Label(name=key, use_case=key, source="stack") if named else NO_LABEL
        return NO_LABEL


def _label_of(entry: NameEntry) -> Label:
    return Label(
        name=entry.logical_name,
        tenant=entry.tenant,
        display_name=entry.display_name,
        environment=entry.environment,
        use_case=entry.use_case,
        source="stack",
    )


def name_files_from_environment(environ: Mapping[str, str] | None = None) -> list[Path]:
    value = (os.environ if environ is None else environ).get(NAMES_ENV, "")
    return [Path(part) for part in value.split(os.pathsep) if part]


class NameMapFiles:
    """Name maps read from files, re-read when one changes (checked at most once per
    `RECHECK_S`). A missing file counts as empty (it may be written later); a broken file or
    entry is reported in one line and the rest is used."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = list(paths)
        self._lock = threading.Lock()
        self._stamps: tuple | None = None
        self._checked_at = float("-inf")
        self._map = NameMap()
        self.problems: list[str] = []

    def current(self) -> NameMap:
        now = time.monotonic()
        if now - self._checked_at < RECHECK_S:
            return self._map
        with self._lock:
            self._checked_at = now
            stamps = tuple(_stamp(path) for path in self.paths)
            if stamps != self._stamps:
                self._map, self.problems = self._load()
                self._stamps = stamps
                for problem in self.problems:
                    log.warning("%s", problem)
        return self._map

    def _load(self) -> tuple[NameMap, list[str]]:
        merged: dict[str, NameEntry] = {}
        problems: list[str] = []
        for path in self.paths:
            if not path.exists():
                continue
            try:
                entries, skipped = load_name_map_file(path)
            except NameMapError as error:
                problems.append(str(error))
                continue
            merged.update(entries)
            problems.extend(skipped)
        return NameMap(merged), problems

    def account_sids(self) -> frozenset[str]:
        return self.current().account_sids


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
