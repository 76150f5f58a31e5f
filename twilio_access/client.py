"""The only place that builds a `twilio.rest.Client`.

Against real Twilio it is the official client with a timeout. Against the emulator, an injected
HTTP client rewrites every `https://<domain>.twilio.com/<path>` (edge and region hosts such as
`api.sydney.au1.twilio.com` included) to `<emulator>/<domain>/<path>`, so every domain, and the
absolute paging URLs Twilio hands back, reach the emulator without touching each domain's
`base_url`.

Retries are not done here: a retry layer wraps any `twilio.http.HttpClient` (the one
`make_http_client` returns included) and is passed to `build_client(http_client=...)`.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

DEFAULT_TIMEOUT_S = 30.0
# requests' default pool keeps 10 connections per host; concurrent provider calls need more.
DEFAULT_POOL_SIZE = 64

TWILIO_API_URL = "https://api.twilio.com"

_TWILIO_HOST = re.compile(r"^(?P<domain>[a-z0-9-]+)(?:\.[a-z0-9-]+)*\.twilio\.com$")


def emulator_route(url: str, emulator_url: str) -> str:
    """`https://<domain>[.<edge>.<region>].twilio.com/<path>?q` -> `<emulator>/<domain>/<path>?q`.

    Any other URL (for example a v1 `next_page_url` already on the emulator) is left alone.
    """
    parts = urlsplit(url)
    match = _TWILIO_HOST.match((parts.hostname or "").lower())
    if not match:
        return url
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{emulator_url.rstrip('/')}/{match.group('domain')}{path}{query}"


def read_environment_once(client: TwilioHttpClient, url: str) -> None:
    """Take the proxy and CA-bundle settings from the environment now, for every request.

    requests otherwise looks them up on each request by scanning the whole environment, twice:
    40% of the CPU of a provider's Twilio call (`python -m bench.estate --profile`), in a
    process where every call competes for one GIL. `url` decides NO_PROXY once; Twilio's
    domains share it.
    """
    session = client.session
    if session is None:
        return
    client.proxy = {**get_environ_proxies(url), **client.proxy}
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


class EmulatorHttpClient(TwilioHttpClient):
    """The official HTTP client, pointed at the emulator for every Twilio domain."""

    def __init__(
        self,
        emulator_url: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        super().__init__(timeout=timeout)
        self.emulator_url = emulator_url.rstrip("/")
        if self.session is not None:
            # The emulator speaks plain HTTP; twilio only sizes the https:// pool.
            self.session.mount("http://", HTTPAdapter(pool_maxsize=pool_size))
        read_environment_once(self, self.emulator_url)

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            emulator_route(url, self.emulator_url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def make_http_client(
    emulator_url: str | None = None, *, timeout: float | None = DEFAULT_TIMEOUT_S
) -> HttpClient:
    """The HTTP client `build_client` uses by default; wrap it to add retries."""
    if emulator_url:
        return EmulatorHttpClient(emulator_url, timeout=timeout)
    http_client = TwilioHttpClient(timeout=timeout)
    if http_client.session is not None:
        http_client.session.mount("https://", HTTPAdapter(pool_maxsize=DEFAULT_POOL_SIZE))
    read_environment_once(http_client, TWILIO_API_URL)
    return http_client


def build_client(
    username: str,
    password: str,
    account_sid: str | None = None,
    emulator_url: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    http_client: HttpClient | None = None,
    **client_options: Any,
) -> Client:
    """A Twilio client for real Twilio, or for the emulator when `emulator_url` is given.

    `username`/`password` are an account SID and auth token, or an API key SID and secret (then
    `account_sid` names the account for v2010 paths). v1 APIs (messaging, IAM) act on the
    account the credentials belong to, whatever `account_sid` says.
    """
    return Client(
        username,
        password,
        account_sid,
        http_client=http_client or make_http_client(emulator_url, timeout=timeout),
        **client_options,
    )
