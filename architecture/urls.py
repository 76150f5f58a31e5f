"""Webhook URL rules: HTTPS everywhere, plain HTTP only for a loopback host."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is this machine (localhost, 127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_url_problem(url: str) -> str | None:
    """Why Twilio could not (or must not) call this URL, or None when it is acceptable."""
    if url != url.strip() or any(character.isspace() for character in url):
        return f"{url!r} contains whitespace"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"{url!r} is not a valid URL ({error})"
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"} or not parts.hostname:
        return f"{url!r} is not an absolute http(s) URL"
    if parts.username is not None or parts.password is not None:
        # Twilio would send them as basic auth, but a stack file never holds credentials.
        return f"{url!r} embeds credentials (user:password@); stack files hold no secrets"
    if "_" in parts.hostname:
        # Twilio refuses callback hostnames with underscores.
        return f"{url!r} has an underscore in its hostname, which Twilio refuses"
    if port == 0:
        return f"{url!r} has port 0"
    if scheme == "http" and not is_loopback_url(url):
        return (
            f"{url!r} must use https; plain http is allowed only for a loopback host "
            "(127.0.0.1, localhost) outside production"
        )
    return None
