"""Webhook URLs as Twilio uses them: HTTPS, or plain http to this machine where allowed.

The same rule as the stack-file schema's, written again here because the pack imports nothing
of the program: it also guards estates that were not built from our stack files.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(url: str) -> bool:
    """True when the URL's host is this machine (localhost, 127.0.0.0/8, ::1)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def problem(url: object, loopback_allowed: bool) -> str | None:
    """What is wrong with a webhook URL (a clause for a message), or None."""
    if not isinstance(url, str) or not url or url != url.strip() or " " in url:
        return "is not a URL"
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
    except ValueError:
        return "is not a valid URL"
    if scheme not in {"https", "http"} or not host:
        return "is not an absolute https URL"
    if parts.username is not None or parts.password is not None:
        return "embeds credentials (user:password@), which would end up in state and logs"
    if scheme == "https":
        return None
    if not is_loopback(url):
        return "must use https"
    if not loopback_allowed:
        return "is plain http to a loopback host"
    return None
