"""The webhook URL rulebook: what Twilio may be asked to call.

This file exists twice, byte for byte: `architecture/urls.py` (the stack-file model) and
`policies/twilio_guardrails/urls.py` (the policy pack, which may not import the program).
Edit one, copy it over the other; tests/unit/architecture/test_url_rulebook.py holds them
equal, and to the same verdicts on a table of tricky URLs. Standard library only.

A webhook is an absolute https URL whose host Twilio can reach; plain http, and any URL to a
loopback host (this machine), only where loopback is allowed (the local emulator and
collector, outside production).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})
# What inet_aton reads as an IPv4 address besides dotted quads: 127.1, 0x7f.0.0.1, 2130706433.
_IPV4_SHORTHAND = re.compile(r"[0-9a-fx.]+")


# The one problem an adopted object may keep as found (architecture.fields).
NOT_HTTPS = "must use https"


def is_loopback_host(host: str) -> bool:
    """True for a name or address of this machine: localhost and *.localhost (RFC 6761),
    127.0.0.0/8 in any form an HTTP client accepts (127.1, 0x7f000001, ...), ::1, an
    IPv4-mapped loopback, and the unspecified address (0.0.0.0, ::), which reaches this
    machine too."""
    name = host.lower().rstrip(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        if not _IPV4_SHORTHAND.fullmatch(name):
            return False
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def is_loopback(url: str) -> bool:
    """True when the URL's host is this machine."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return bool(host) and is_loopback_host(host)


def problem(url: object, loopback_allowed: bool) -> str | None:
    """What is wrong with a webhook URL, as a clause that follows the URL in a message
    (`'http://x' must use https`); None when Twilio may call it."""
    if not isinstance(url, str) or not url:
        return "is not a URL"
    if any(character.isspace() for character in url):
        return "contains whitespace"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError as error:
        return f"is not a valid URL ({error})"
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"} or not host:
        return "is not an absolute http(s) URL"
    if parts.username is not None or parts.password is not None:
        # Twilio would send them as basic auth, but they would end up in state and logs.
        return "embeds credentials (user:password@), which would end up in state and logs"
    if not host.isascii():
        return "has a non-ASCII hostname: write it in its ASCII (xn--) form"
    if "_" in host:
        return "has an underscore in its hostname, which Twilio refuses"
    if port == 0:
        return "has port 0"
    if is_loopback_host(host):
        if loopback_allowed:
            return None
        return "points at a loopback host (this machine), which Twilio cannot reach"
    if scheme == "http":
        return NOT_HTTPS
    return None
