"""Twilio's access rules: who the caller is, and which accounts and operations it may reach.

- HTTP Basic with `AccountSid:AuthToken`, or `KeySid:KeySecret` for an API key.
- A key acts only in the account that owns it; only the parent's auth token reaches a
  subaccount's v2010 resources (Twilio: keys made in the parent are refused on subaccounts).
- Standard and restricted keys are refused on the Accounts and Keys endpoints (Main keys and the
  auth token only); restricted keys reach only the permissions listed in their Policy.
- Closed accounts cannot authenticate (their credentials stop working).

Error codes as Twilio's error dictionary gives them: wrong credentials are 401/20003
"Authentication Error - invalid username"; a standard key on an endpoint that needs a Main key
(/Accounts, the Keys endpoints) is also 401/20003; a restricted key without the permission is
70051 "Authorization Failed" (403).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from emulator.store import Record, Store
from emulator.wire import TwilioError, not_found

AUTH_TOKEN = "auth_token"
MAIN_KEY = "main"
STANDARD_KEY = "standard"
RESTRICTED_KEY = "restricted"

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="Twilio API"'}


AUTHENTICATION_ERROR = "Authentication Error - invalid username"


def authentication_failed() -> TwilioError:
    return TwilioError(401, 20003, AUTHENTICATION_ERROR, _CHALLENGE)


def authorization_failed(message: str) -> TwilioError:
    """A restricted key asking for what its Policy does not allow (Twilio error 70051)."""
    return TwilioError(403, 70051, f"Authorization Failed: {message}")


def hash_secret(secret: str) -> str:
    """Key secrets are kept only as a hash: Twilio can never show one again either."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    account: Record  # the account whose credentials signed the request
    credential: str  # AUTH_TOKEN, MAIN_KEY, STANDARD_KEY or RESTRICTED_KEY
    key_sid: str | None = None
    allowed: frozenset[str] = frozenset()

    @property
    def account_sid(self) -> str:
        return self.account.sid

    def require_account_admin(self) -> None:
        """Accounts and Keys endpoints: auth token or Main key only (Twilio's key types)."""
        if self.credential == STANDARD_KEY:
            # Twilio's page for 20003 names this cause: a Standard key where a Main key is needed.
            raise TwilioError(
                401,
                20003,
                "Authentication Error - a Standard API key cannot access the Accounts or Keys"
                " resources; use the auth token or a Main key",
                _CHALLENGE,
            )
        if self.credential == RESTRICTED_KEY:
            raise authorization_failed(
                f"the restricted API key {self.key_sid} cannot access the Accounts or Keys"
                " resources; use the auth token or a Main key"
            )

    def require_permission(self, permission: str | None) -> None:
        if self.credential != RESTRICTED_KEY:
            return
        if permission is None or permission not in self.allowed:
            raise authorization_failed(
                f"the restricted API key {self.key_sid} does not have the permission"
                f" {permission or 'for this resource'}"
            )


def basic_username(authorization: str | None) -> str:
    """The username of a Basic Authorization header, for statistics only ("" when none)."""
    if not authorization or authorization[:6].lower() != "basic ":
        return ""
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""
    return decoded.partition(":")[0][:34]


def authenticate(store: Store, authorization: str | None) -> Principal:
    if not authorization or not authorization[:6].lower() == "basic ":
        raise authentication_failed()
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise authentication_failed() from exc
    username, separator, password = decoded.partition(":")
    if not separator or len(username) != 34:
        raise authentication_failed()
    if username.startswith("AC"):
        account = store.get(username, "account")
        if account is None or account.doc["status"] == "closed":
            raise authentication_failed()
        if not hmac.compare_digest(account.doc["auth_token"].encode(), password.encode()):
            raise authentication_failed()
        return Principal(account=account, credential=AUTH_TOKEN)
    if username.startswith("SK"):
        key = store.get(username, "key")
        if key is None:
            raise authentication_failed()
        if not hmac.compare_digest(key.doc["secret_hash"], hash_secret(password)):
            raise authentication_failed()
        account = store.get(key.account_sid, "account")
        if account is None or account.doc["status"] == "closed":
            raise authentication_failed()
        policy = key.doc.get("policy") or {}
        allowed = frozenset(p for p in policy.get("allow", []) if isinstance(p, str))
        return Principal(
            account=account, credential=key.doc["key_type"], key_sid=key.sid, allowed=allowed
        )
    raise authentication_failed()


def reach_account(store: Store, principal: Principal, account_sid: str, path: str) -> Record:
    """The account named in a v2010 path, if the caller may act on it.

    Unknown or unrelated accounts answer 404 (Twilio does not reveal other customers' SIDs);
    an account of the same family that the credentials may not act on answers 20003.
    """
    if account_sid == principal.account_sid:
        return principal.account
    target = store.get(account_sid, "account")
    if target is None:
        raise not_found(path)
    caller = principal.account
    caller_root = caller.doc["owner_account_sid"]
    target_root = target.doc["owner_account_sid"]
    if target_root == caller.sid:
        if principal.credential == AUTH_TOKEN:
            return target
        raise authentication_failed()
    if caller_root in (target.sid, target_root):
        raise authentication_failed()
    raise not_found(path)
