"""Which Pulumi state this run belongs to, as a short mark that creates record in Twilio.

A Pulumi state is a backend plus an organization, project and stack: two clones with their
own file backends, a CI job pointed at the wrong backend, or a teammate's fresh local state
are different states even when the stack name (and so every identity tag) is the same.

The identity is derived, not stored, so it exists before anything is created: a run killed
before its first checkpoint (PULUMI_SKIP_CHECKPOINTS writes state only at the end) is resumed
by the same state, with the same mark, and adopts what it had made. Nothing secret goes in:
the backend URL without credentials, and for a file backend the machine it lives on (a file
backend is one directory on one machine; the same path on another machine is another state).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from identity_tags import state_mark

PULUMI_CLOUD = "https://api.pulumi.com"


def backend_url(environ: Mapping[str, str]) -> str:
    """The backend as the CLI chose it: PULUMI_BACKEND_URL, else the one `pulumi login`
    recorded in PULUMI_HOME, else Pulumi Cloud (the CLI's default)."""
    if environ.get("PULUMI_BACKEND_URL"):
        return environ["PULUMI_BACKEND_URL"]
    home = Path(environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:
        current = json.loads((home / "credentials.json").read_text(encoding="utf-8")).get("current")
    except (OSError, ValueError, AttributeError):
        current = None
    return current or PULUMI_CLOUD


def normalized_backend(url: str, host: str) -> str:
    """The backend URL without user info or query; a file backend's absolute path on `host`."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        raw = url[len("file://") :].split("?", 1)[0]
        path = Path(os.path.expanduser(raw or "~")).resolve()
        return f"file://{host}{path}"
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def state_identity(
    organization: str, project: str, stack: str, environ: Mapping[str, str] | None = None
) -> str:
    environ = os.environ if environ is None else environ
    backend = normalized_backend(backend_url(environ), socket.gethostname())
    return f"{backend}|{organization}/{project}/{stack}"


def current_state_mark(organization: str, project: str, stack: str) -> str:
    return state_mark(state_identity(organization, project, stack))
