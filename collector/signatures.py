"""`X-Twilio-Signature` checks with the auth token of the account that sent the callback.

The collector holds only the parent account's credentials. A subaccount's token is read from its
Account resource with them (a `TokenSource`), cached, and re-read once when a signature does not
match, so a token rotated since it was cached keeps working. Tokens are never logged or stored.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from itertools import chain
from typing import TYPE_CHECKING, Protocol

from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator

from collector.accounts import AccountDirectory, EstateAccount, TokenLookupError

if TYPE_CHECKING:
    from collector.events import FormParams
    from twilio_access.credentials import TwilioSession

log = logging.getLogger(__name__)


class TokenSource(Protocol):
    """Reads an account's current auth token. Blocking; called from a worker thread."""

    def auth_token(self, account_sid: str) -> str | None:
        """The token, or None when the parent's credentials reach no such account."""
        ...

    def list_accounts(self) -> list[EstateAccount]:
        """The parent and its subaccounts: the estate (`collector.accounts`)."""
        ...


class StaticTokenSource:
    """Fixed tokens (tests, benchmarks). Replacing an entry models a rotation. As a lister,
    its accounts are the estate (without tokens: those are read one by one)."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self.tokens = dict(tokens)
        self.reads = 0
        self.lists = 0

    def auth_token(self, account_sid: str) -> str | None:
        self.reads += 1
        return self.tokens.get(account_sid)

    def list_accounts(self) -> list[EstateAccount]:
        self.lists += 1
        return [EstateAccount(sid) for sid in self.tokens]


class TwilioTokenSource:
    """The real lookup: the parent's own token, or a subaccount's read from its Account resource
    with the parent's credentials (the providers' `TwilioSession`)."""

    def __init__(self, session: TwilioSession) -> None:
        self.session = session

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TwilioTokenSource:
        # Imported here so the rest of the collector runs (and is tested) without the clients.
        from twilio_access.credentials import TwilioSession, resolve_parent_credentials

        return cls(TwilioSession(resolve_parent_credentials({}, environ)))

    def list_accounts(self) -> list[EstateAccount]:
        """The parent and its subaccounts, every page (Twilio's list carries each account's
        FriendlyName and auth token: one walk serves names and tokens of the whole estate)."""
        from twilio.base.exceptions import TwilioException

        parent = self.session.credentials.account_sid
        accounts = []
        try:
            for account in self.session.parent().api.v2010.accounts.stream(page_size=1000):
                if account.sid == parent or account.owner_account_sid == parent:
                    accounts.append(
                        EstateAccount(account.sid, account.friendly_name, account.auth_token)
                    )
        except (TwilioException, OSError) as error:  # an error answer (any page), the network
            raise TokenLookupError(str(error)) from error
        return accounts

    def auth_token(self, account_sid: str) -> str | None:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        parent = self.session.credentials
        if account_sid == parent.account_sid:
            return parent.auth_token
        try:
            account = self.session.parent().api.v2010.accounts(account_sid).fetch()
        except TwilioRestException as error:
            # 404: no such account; 401/403: not one the parent may read. Either way the
            # callback cannot be from our estate.
            if error.status in (401, 403, 404):
                return None
            raise TokenLookupError(
                f"Twilio answered {error.status} reading {account_sid}"
            ) from None
        except (TwilioException, OSError) as error:
            raise TokenLookupError(f"Twilio unreachable reading {account_sid}: {error}") from None
        if account.sid != account_sid or account.owner_account_sid != parent.account_sid:
            return None
        return account.auth_token


_SHA1_BLOCK = 64  # bytes; HMAC pads or hashes the key to this


class KeyedHmac:
    """HMAC-SHA1 with its key prepared once (RFC 2104): the SHA-1 states after the inner and
    the outer padded key. A signature then copies both states (two C calls) instead of
    deriving them from the token again, or going through `hmac.HMAC`'s Python methods."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _SHA1_BLOCK:
            key = hashlib.sha1(key).digest()
        key = key.ljust(_SHA1_BLOCK, b"\0")
        self._inner = hashlib.sha1(bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.sha1(bytes(byte ^ 0x5C for byte in key))

    def digest(self, data: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def keyed_hmac(token: str) -> KeyedHmac:
    """The HMAC of `token`, prepared once per token: `signature_of` uses it per callback."""
    return KeyedHmac(token.encode("utf-8"))


def signature_of(key: bytes | KeyedHmac, url: str, params: FormParams) -> str:
    """`RequestValidator(token).compute_signature(url, params)` (HMAC-SHA1 of the URL followed
    by each name and value, names sorted, a name's distinct values sorted; base64), from the
    pairs sorted once per callback and with the key prepared once per token (`keyed_hmac`) or
    the one-shot HMAC: a fraction of its cost, and this runs for every callback. A test holds
    the two equal on a table of tricky forms."""
    data = (url + "".join(chain.from_iterable(params.signed_pairs()))).encode()
    digest = hmac.digest(key, data, "sha1") if isinstance(key, bytes) else key.digest(data)
    return base64.b64encode(digest).decode("ascii")


def _signed(cached: _CachedToken, url: str, params: FormParams, signature: str) -> bool:
    """`RequestValidator.validate`, cheaper when the signature is good: it always computes two
    HMACs (the URL with and without its default port, as Twilio signs either way); the URL as
    requested matches almost always, so try that one alone first."""
    assert cached.validator is not None and cached.keyed is not None
    expected = signature_of(cached.keyed, url, params)
    if hmac.compare_digest(expected.encode(), signature.encode()):
        return True
    return cached.validator.validate(url, params, signature)


class Verdict(Enum):
    VALID = "valid"
    UNSIGNED = "unsigned"
    FORGED = "forged"
    UNKNOWN_ACCOUNT = "unknown account"
    UNSUPPORTED_SCHEME = "unsupported signature scheme"


@dataclass
class _CachedToken:
    token: str | None  # None: the parent reaches no such account
    validator: RequestValidator | None
    fetched_at: float
    keyed: KeyedHmac | None = None  # `keyed_hmac(token)`

    @classmethod
    def of(cls, token: str | None, fetched_at: float) -> _CachedToken:
        if not token:
            return cls(None, None, fetched_at)
        return cls(token, RequestValidator(token), fetched_at, keyed_hmac(token))


class SignatureChecker:
    """Validates callbacks against per-account tokens from a `TokenSource`.

    With a `directory`, only accounts of the estate are ever read from the source: any other
    SID is refused at once and nothing about it is kept (the directory's list refreshes seed
    the tokens). Cached tokens are used without leaving the event loop; a miss runs the source
    in a worker thread, and concurrent misses for one account share that one read. Negative
    answers are remembered for `unknown_ttl` seconds (at most `max_negative` of them) and
    re-reads after a mismatch happen at most once per `reread_interval` per account, so
    forged traffic cannot turn into a flood of Twilio calls.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        directory: AccountDirectory | None = None,
        unknown_ttl: float = 30.0,
        reread_interval: float = 1.0,
        max_negative: int = 10_000,
    ) -> None:
        self.source = source
        self.directory = directory
        self.unknown_ttl = unknown_ttl
        self.reread_interval = reread_interval
        self.max_negative = max_negative
        self.reads = 0  # token reads from the source (Twilio calls, with the real source)
        self._cache: dict[str, _CachedToken] = {}
        self._negative: OrderedDict[str, float] = OrderedDict()  # SID -> when answered
        self._pending: dict[str, asyncio.Future[_CachedToken]] = {}
        self._last_reread: dict[str, float] = {}
        if directory is not None:
            directory.on_refresh.append(self.accept_listed)

    def accept_listed(self, accounts: list[EstateAccount]) -> None:
        """A fresh list of the estate (applied on the event loop): take the tokens it carries,
        and drop what is kept about accounts that are no longer ours."""
        listed = {account.sid: account for account in accounts}
        now = time.monotonic()
        for sid in list(self._cache):
            if sid not in listed and not (self.directory and self.directory.is_known(sid)):
                self._cache.pop(sid, None)
                self._last_reread.pop(sid, None)
        for account in accounts:
            token = account.auth_token
            cached = self._cache.get(account.sid)
            if token and (cached is None or cached.token != token):
                self._cache[account.sid] = _CachedToken.of(token, now)
                self._negative.pop(account.sid, None)

    def check_cached(self, url: str, params: FormParams, account_sid: str, signature: str) -> bool:
        """True when the cached token of the account validates the signature: the common case,
        answered without a coroutine. Anything else goes through `check`."""
        cached = self._cache.get(account_sid)
        return (
            cached is not None
            and cached.validator is not None
            and _signed(cached, url, params, signature)
        )

    def surely_unknown(self, account_sid: str) -> bool:
        """True for an account that is not ours by the estate's last list: refused without a
        coroutine, a Twilio call, or anything kept (the cheap answer to a flood)."""
        directory = self.directory
        return (
            directory is not None
            and account_sid not in self._cache
            and directory.refreshed_at is not None
            and not directory.is_known(account_sid)
        )

    async def check(
        self,
        url: str,
        params: FormParams,
        account_sid: str,
        signature: str | None,
        signature_settings: str | None = None,
    ) -> Verdict:
        if not signature:
            return Verdict.UNSIGNED
        if signature_settings:
            # Webhooks Rules sign with a shared-key secret that the API does not hand out.
            log.warning(
                "%s present: shared-key signatures are not supported", SIGNATURE_SETTINGS_HEADER
            )
            return Verdict.UNSUPPORTED_SCHEME
        cached = self._cache.get(account_sid)
        if cached is None:
            if self.directory is not None and not self.directory.is_known(account_sid):
                if self.directory.refreshed_at is None:
                    # The estate could never be listed: we cannot tell, Twilio should retry.
                    raise TokenLookupError("the estate's accounts could not be listed yet")
                return Verdict.UNKNOWN_ACCOUNT  # not ours: no Twilio call, nothing kept
            if self._negatively_known(account_sid):
                return Verdict.UNKNOWN_ACCOUNT
            cached = await self._load(account_sid)
        if cached.validator is None:
            return Verdict.UNKNOWN_ACCOUNT
        if _signed(cached, url, params, signature):
            return Verdict.VALID
        # A mismatch may mean the token was rotated since it was cached: read it again, once.
        fresh = await self._reread(account_sid, cached)
        if fresh is None:
            return Verdict.FORGED
        if fresh.validator is None:
            return Verdict.UNKNOWN_ACCOUNT
        if fresh.token != cached.token and _signed(fresh, url, params, signature):
            return Verdict.VALID
        return Verdict.FORGED

    async def _reread(self, account_sid: str, stale: _CachedToken) -> _CachedToken | None:
        """The token as read after `stale` was found wrong, or None when re-reading now would
        exceed the rate limit. Callbacks that mismatch together (right after a rotation) share
        one read, and one that mismatches after another request re-read uses that answer."""
        pending = self._pending.get(account_sid)
        if pending is not None:
            return await asyncio.shield(pending)
        current = self._cache.get(account_sid)
        if current is not None and current is not stale:
            return current
        now = time.monotonic()
        if now - self._last_reread.get(account_sid, float("-inf")) < self.reread_interval:
            return None
        self._last_reread[account_sid] = now
        return await self._load(account_sid)

    def forget(self, account_sid: str) -> None:
        self._cache.pop(account_sid, None)

    def _negatively_known(self, account_sid: str) -> bool:
        answered = self._negative.get(account_sid)
        if answered is None:
            return False
        if time.monotonic() - answered > self.unknown_ttl:
            del self._negative[account_sid]
            return False
        return True

    def _remember_negative(self, account_sid: str) -> None:
        self._negative[account_sid] = time.monotonic()
        self._negative.move_to_end(account_sid)
        while len(self._negative) > self.max_negative:
            self._negative.popitem(last=False)

    async def _load(self, account_sid: str) -> _CachedToken:
        # One read per account at a time, in its own task: a caller that goes away (client
        # disconnect) does not cancel the read that others are waiting for.
        task = self._pending.get(account_sid)
        if task is None:
            task = asyncio.ensure_future(self._read(account_sid))
            self._pending[account_sid] = task
            task.add_done_callback(lambda _: self._pending.pop(account_sid, None))
        return await asyncio.shield(task)

    async def _read(self, account_sid: str) -> _CachedToken:
        self.reads += 1
        token = await asyncio.to_thread(self.source.auth_token, account_sid)
        entry = _CachedToken.of(token, time.monotonic())
        if token:
            self._cache[account_sid] = entry
            self._negative.pop(account_sid, None)
        else:
            self._cache.pop(account_sid, None)
            self._remember_negative(account_sid)
        return entry
