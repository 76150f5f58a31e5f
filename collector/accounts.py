"""The accounts of the estate: the only accounts the collector ever asks Twilio about.

A callback names its account (`AccountSid`) before anything is verified, so a stranger can
name any SID. The collector therefore calls Twilio only for accounts it already knows to be
ours: the parent and its subaccounts, from the parent's paged subaccount list (refreshed in the
background at most once per `refresh_interval`, never because a callback arrived), plus an
optional allow-list file and the subaccounts of the name maps (`collector.names`), which the
stack's own outputs provide. Pulumi state is never read. A callback of any other account is
refused at once: no Twilio call, nothing remembered about it.

The list also carries each account's FriendlyName and auth token, so a refresh serves the
reports' fallback names and seeds the signature checker without one read per account.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from collector.events import ACCOUNT_SID_PATTERN

log = logging.getLogger(__name__)

DEFAULT_REFRESH_INTERVAL_S = 60.0


@dataclass(frozen=True)
class EstateAccount:
    sid: str
    friendly_name: str | None = None
    auth_token: str | None = field(default=None, repr=False)  # as the list returned it


class TokenLookupError(RuntimeError):
    """Twilio could not be asked (network, 5xx) for a token or for the estate's accounts: a
    callback that needs the answer should be retried."""


class AccountLister(Protocol):
    """The parent's accounts: itself and its subaccounts. Blocking; run in a worker thread."""

    def list_accounts(self) -> list[EstateAccount]:
        """Every account of the parent, itself included; `TokenLookupError` when Twilio could
        not be asked."""
        ...


class AllowListError(ValueError):
    """A line of the allow-list file is not an account SID."""


def read_allow_list(path: Path) -> frozenset[str]:
    """One account SID per line; blank lines and `#` comments ignored. A bad line stops the
    read with its file and line named (the previous list stays in force)."""
    sids = set()
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not ACCOUNT_SID_PATTERN.match(text):
            raise AllowListError(f"{path}:{number}: {text[:40]!r} is not an account SID (AC…)")
        sids.add(text)
    return frozenset(sids)


class AccountDirectory:
    """Which account SIDs are ours, and their FriendlyNames.

    `refresh()` (blocking) lists the parent's accounts and re-reads the allow-list file;
    `run()` calls it every `refresh_interval` seconds. `on_refresh` receives the listed
    accounts (the signature checker takes their tokens from there).
    """

    def __init__(
        self,
        lister: AccountLister,
        *,
        allow_list: Path | None = None,
        extra_known: Callable[[], Container[str]] | None = None,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL_S,
    ) -> None:
        self.lister = lister
        self.allow_list_path = allow_list
        self.extra_known = extra_known
        self.refresh_interval = refresh_interval
        self.on_refresh: list[Callable[[list[EstateAccount]], None]] = []
        self.list_calls = 0  # Twilio list walks (each may be several pages)
        self.failed_refreshes = 0
        self.refreshed_at: float | None = None
        self._listed: dict[str, EstateAccount] = {}
        self._allowed: frozenset[str] = frozenset()
        self._allow_list_mtime: float | None = None

    # --- questions (event loop, no I/O) ------------------------------------------------------

    def is_known(self, account_sid: str) -> bool:
        if account_sid in self._listed or account_sid in self._allowed:
            return True
        return self.extra_known is not None and account_sid in self.extra_known()

    def friendly_name(self, account_sid: str) -> str | None:
        account = self._listed.get(account_sid)
        return account.friendly_name if account else None

    def friendly_names(self) -> dict[str, str]:
        return {sid: a.friendly_name for sid, a in self._listed.items() if a.friendly_name}

    @property
    def size(self) -> int:
        return len(self._listed.keys() | self._allowed)

    # --- refreshing ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """List the parent's accounts and re-read the allow-list (blocking). A failure keeps
        the previous answer (known accounts go on being checked), logged in one line."""
        accounts = self._fetch()
        if accounts is not None:
            self._apply(accounts)

    def _fetch(self) -> list[EstateAccount] | None:
        self._reload_allow_list()
        self.list_calls += 1
        try:
            return self.lister.list_accounts()
        except TokenLookupError as error:  # Twilio unreachable or refusing: keep what we know
            self.failed_refreshes += 1
            log.warning("listing the estate's accounts failed, keeping the last list: %s", error)
            return None
        except Exception:
            # A bug: logged with its traceback. Still caught, because this runs in the
            # collector's background loop (`run`), which must go on refreshing: an exception
            # here would end it and leave the list stale for as long as the collector runs.
            self.failed_refreshes += 1
            log.exception("listing the estate's accounts failed (a bug), keeping the last list")
            return None

    def _apply(self, accounts: list[EstateAccount]) -> None:
        self._listed = {account.sid: account for account in accounts}
        self.refreshed_at = time.monotonic()
        for listener in self.on_refresh:
            listener(accounts)

    def _reload_allow_list(self) -> None:
        path = self.allow_list_path
        if path is None:
            return
        try:
            mtime = os.stat(path).st_mtime
        except OSError as error:
            log.warning("allow-list %s unreadable, keeping the last one: %s", path, error)
            return
        if mtime == self._allow_list_mtime:
            return
        try:
            self._allowed = read_allow_list(path)
        except (AllowListError, OSError, UnicodeDecodeError) as error:
            log.warning("allow-list not reloaded, keeping the last one: %s", error)
            return
        self._allow_list_mtime = mtime

    async def run(self) -> None:
        """Refresh now and then every `refresh_interval` seconds, until cancelled."""
        while True:
            await self.refresh_async()
            await asyncio.sleep(self.refresh_interval)

    async def refresh_async(self) -> None:
        """`refresh` with Twilio's answer awaited in a thread and applied on the event loop,
        where the signature checker reads what it changes."""
        accounts = await asyncio.to_thread(self._fetch)
        if accounts is not None:
            self._apply(accounts)


class StaticAccountLister:
    """Fixed accounts (tests, benchmarks)."""

    def __init__(self, accounts: Iterable[EstateAccount]) -> None:
        self.accounts = list(accounts)
        self.calls = 0

    def list_accounts(self) -> list[EstateAccount]:
        self.calls += 1
        return list(self.accounts)
