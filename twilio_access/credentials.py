"""Where Twilio credentials come from, and the clients built from them.

The providers (and the collector) hold only the parent account's credentials: stack config
`twilio:accountSid` / `twilio:authToken`, else `TWILIO_ACCOUNT_SID` / `TWILIO_AUTH_TOKEN`.
With neither, they talk to the local emulator at `TWILIO_EMULATOR_URL` with its documented
development credentials. A subaccount's own auth token, needed to sign messaging and IAM v1
calls (those act on the signing account), is read from its Account resource with the parent's
credentials, cached per process, and never written to state or outputs.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from twilio.base.exceptions import TwilioRestException

from twilio_access.consistency import settle
from twilio_access.dev_defaults import (
    DEFAULT_EMULATOR_URL,
    DEV_ACCOUNT_SID,
    DEV_AUTH_TOKEN,
    EMULATOR_URL_ENV,
)

if TYPE_CHECKING:
    # The client and transport modules load `requests` and the twilio client (about a second
    # of imports on a loaded machine): they are imported when the first client is built, so
    # the program and a preview's provider host, which call no Twilio, never load them.
    from twilio.rest import Client

    from twilio_access.transport import RetryingHttpClient

T = TypeVar("T")

# How long one fetch of a subaccount serves every read that asks for it.
ACCOUNT_REUSE_SECONDS = 5.0

ACCOUNT_SID_KEY = "twilio:accountSid"
AUTH_TOKEN_KEY = "twilio:authToken"


class CredentialsError(Exception):
    """Credentials are half configured: say which half is missing."""


@dataclass(frozen=True)
class ParentCredentials:
    account_sid: str
    auth_token: str = field(repr=False)
    emulator_url: str | None = None
    source: str = "emulator"

    @property
    def uses_emulator(self) -> bool:
        return self.emulator_url is not None

    def describe(self) -> str:
        """One line for the start of a run; never includes the token."""
        if self.uses_emulator:
            return (
                f"No Twilio credentials configured: using the local Twilio emulator at "
                f"{self.emulator_url} (development account {self.account_sid})."
            )
        return f"Using Twilio account {self.account_sid} (credentials from {self.source})."


def describe_source(
    account_sid: str | None, token_configured: bool, environ: Mapping[str, str] | None = None
) -> str:
    """The one-line notice for the program, decided as the providers will decide it, from
    the stack config's SID and whether a token is configured (the token is never read)."""
    placeholder = "configured" if token_configured else None
    config = {ACCOUNT_SID_KEY: account_sid, AUTH_TOKEN_KEY: placeholder}
    return resolve_parent_credentials(config, environ).describe()


def resolve_parent_credentials(
    config: Mapping[str, str | None], environ: Mapping[str, str] | None = None
) -> ParentCredentials:
    environ = os.environ if environ is None else environ
    for source, sid, token in (
        ("stack config", config.get(ACCOUNT_SID_KEY), config.get(AUTH_TOKEN_KEY)),
        ("environment", environ.get("TWILIO_ACCOUNT_SID"), environ.get("TWILIO_AUTH_TOKEN")),
    ):
        if sid and token:
            return ParentCredentials(sid, token, emulator_url=None, source=source)
        if sid or token:
            missing = "auth token" if sid else "account SID"
            names = (
                f"{ACCOUNT_SID_KEY} / {AUTH_TOKEN_KEY}"
                if source == "stack config"
                else "TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN"
            )
            raise CredentialsError(
                f"Twilio credentials in the {source} lack the {missing}: set both {names}."
            )
    emulator_url = environ.get(EMULATOR_URL_ENV) or DEFAULT_EMULATOR_URL
    return ParentCredentials(DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, emulator_url=emulator_url)


class TwilioSession:
    """Clients for the parent and its subaccounts, built per call from the parent's
    credentials. One per provider process; safe to share between its worker threads."""

    # Subaccount -> (when fetched, its Account resource, auth token included). Kept in this
    # process's memory only; a token is re-read when Twilio rejects it (20003).
    _accounts: dict[tuple[str, str], tuple[float, Any]] = {}
    _tokens_lock = threading.Lock()
    _token_locks: dict[tuple[str, str], threading.Lock] = {}

    def __init__(self, credentials: ParentCredentials) -> None:
        self.credentials = credentials
        self._http_client: RetryingHttpClient | None = None
        self._http_lock = threading.Lock()

    @property
    def _http(self) -> RetryingHttpClient:
        """One connection pool for every client of this process, with retries around it;
        built at the first client (see the imports above)."""
        with self._http_lock:
            if self._http_client is None:
                from twilio_access.client import make_http_client
                from twilio_access.transport import (
                    RetryingHttpClient,
                    RetryPolicy,
                    parent_in_flight_from_environment,
                )

                credentials = self.credentials
                parent_bound = parent_in_flight_from_environment()
                policy = RetryPolicy(
                    account_concurrency=(
                        {credentials.account_sid: parent_bound} if parent_bound else {}
                    )
                )
                self._http_client = RetryingHttpClient(
                    make_http_client(credentials.emulator_url), policy
                )
            return self._http_client

    def parent(self) -> Client:
        return self._client(self.credentials.account_sid, self.credentials.auth_token)

    def parent_acting_on(self, subaccount_sid: str) -> Client:
        """Parent-signed client whose 2010 accessors default to the subaccount."""
        creds = self.credentials
        return self._client(creds.account_sid, creds.auth_token, account_sid=subaccount_sid)

    def as_subaccount(self, subaccount_sid: str, call: Callable[[Client], T]) -> T:
        """Run `call` with a client signed by the subaccount itself. A rejected token
        (20003: rotated since we cached it) is re-read once."""
        for fresh in (False, True):
            token = self._subaccount_token(subaccount_sid, fresh=fresh)
            try:
                return call(self._client(subaccount_sid, token))
            except TwilioRestException as error:
                if error.code != 20003 or fresh:
                    raise
        raise AssertionError("unreachable")

    def remember_account(self, account: Any) -> None:
        """An Account resource just created or adopted: it carries the auth token, so the
        subaccount's own calls need no extra fetch. Only its token is reused: a read of the
        account still fetches it."""
        key = (self.credentials.account_sid, account.sid)
        with self._lock_for(key):
            self._accounts[key] = (-math.inf, account)

    def forget_account(self, subaccount_sid: str) -> None:
        """We changed the account: the next read fetches it again."""
        key = (self.credentials.account_sid, subaccount_sid)
        with self._lock_for(key):
            self._accounts.pop(key, None)

    def fetch_account(
        self, subaccount_sid: str, *, max_age: float = ACCOUNT_REUSE_SECONDS, settle_404: bool
    ) -> Any:
        """The subaccount's Account resource, fetched with the parent's credentials once per
        `max_age` however many worker threads ask (a refresh reads a subaccount and every
        object in it at the same moment). `settle_404`: it may have just been created."""
        key = (self.credentials.account_sid, subaccount_sid)
        with self._lock_for(key):
            entry = self._accounts.get(key)
            if entry is not None and time.monotonic() - entry[0] <= max_age:
                return entry[1]
            fetch = self.parent().api.v2010.accounts(subaccount_sid).fetch
            account = settle(fetch) if settle_404 else fetch()
            self._accounts[key] = (time.monotonic(), account)
            return account

    def _subaccount_token(self, subaccount_sid: str, *, fresh: bool) -> str:
        if subaccount_sid == self.credentials.account_sid:
            return self.credentials.auth_token
        max_age = 0.0 if fresh else math.inf
        return self.fetch_account(subaccount_sid, max_age=max_age, settle_404=True).auth_token

    @classmethod
    def _lock_for(cls, key: tuple[str, str]) -> threading.Lock:
        with cls._tokens_lock:
            return cls._token_locks.setdefault(key, threading.Lock())

    def _client(self, username: str, password: str, account_sid: str | None = None) -> Client:
        from twilio_access.client import build_client

        return build_client(username, password, account_sid=account_sid, http_client=self._http)
