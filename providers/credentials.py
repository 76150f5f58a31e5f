"""Where Twilio credentials come from, and the clients built from them.

The providers (and the collector) hold only the parent account's credentials: stack config
`twilio:accountSid` / `twilio:authToken`, else `TWILIO_ACCOUNT_SID` / `TWILIO_AUTH_TOKEN`.
With neither, they talk to the local emulator at `TWILIO_EMULATOR_URL` with its documented
development credentials. A subaccount's own auth token, needed to sign messaging and IAM v1
calls (those act on the signing account), is read from its Account resource with the parent's
credentials, cached per process, and never written to state or outputs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from emulator.defaults import (
    DEFAULT_EMULATOR_URL,
    DEV_ACCOUNT_SID,
    DEV_AUTH_TOKEN,
)
from providers.client import build_client, make_http_client
from providers.consistency import settle
from providers.transport import RetryingHttpClient

T = TypeVar("T")

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
    emulator_url = environ.get("TWILIO_EMULATOR_URL") or DEFAULT_EMULATOR_URL
    return ParentCredentials(DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, emulator_url=emulator_url)


class TwilioSession:
    """Clients for the parent and its subaccounts, built per call from the parent's
    credentials. One per provider process; safe to share between its worker threads."""

    _tokens: dict[tuple[str, str], str] = {}
    _tokens_lock = threading.Lock()
    _token_locks: dict[tuple[str, str], threading.Lock] = {}

    def __init__(self, credentials: ParentCredentials) -> None:
        self.credentials = credentials
        # One connection pool for every client of this process, with retries around it.
        self._http = RetryingHttpClient(make_http_client(credentials.emulator_url))

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

    def _subaccount_token(self, subaccount_sid: str, *, fresh: bool) -> str:
        if subaccount_sid == self.credentials.account_sid:
            return self.credentials.auth_token
        key = (self.credentials.account_sid, subaccount_sid)
        # One fetch per subaccount, however many worker threads ask at once.
        with self._lock_for(key):
            cached = None if fresh else self._tokens.get(key)
            if cached is None:
                # Often asked right after the subaccount was created.
                account = settle(self.parent().api.v2010.accounts(subaccount_sid).fetch)
                cached = self._tokens[key] = account.auth_token
            return cached

    @classmethod
    def _lock_for(cls, key: tuple[str, str]) -> threading.Lock:
        with cls._tokens_lock:
            return cls._token_locks.setdefault(key, threading.Lock())

    def _client(self, username: str, password: str, account_sid: str | None = None) -> Client:
        return build_client(username, password, account_sid=account_sid, http_client=self._http)
