"""What a request's outcome can be when its answer never came: a module of its own, without
`requests` or the `twilio` client, so the providers can name the error at import time and a
preview (which calls no Twilio) never loads the HTTP stack. `transport` raises it and exports
the same class."""

from __future__ import annotations


class UnknownOutcomeError(Exception):
    """A create whose answer was lost: the object may or may not exist now."""

    def __init__(self, method: str, url: str, cause: str) -> None:
        super().__init__(f"{method} {url}: outcome unknown ({cause})")
        self.method = method
        self.url = url
