"""Adoption by SID: a resource whose stack file names an existing object (`adopt:` in the
architecture) manages that object from now on instead of creating one.

An adopted object carries no identity tag: the SID in state is its identity, so a create that
was interrupted is simply repeated (fetching by SID changes nothing). Before any write, the
object is looked up where the stack file says it lives; a SID that does not exist there
stops that resource with one line naming it, having written nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from providers.errors import TwilioResourceError, unless_status

T = TypeVar("T")

# The `adopt_sid` input of each kind of resource.
ACCOUNT_SID = r"^AC[0-9a-f]{32}$"
API_KEY_SID = r"^SK[0-9a-f]{32}$"
SERVICE_SID = r"^MG[0-9a-f]{32}$"
NUMBER_SID = r"^PN[0-9a-f]{32}$"


class AdoptionError(TwilioResourceError):
    """The object a stack file adopts is not where it says (nothing was written)."""


def fetch_adopted(fetch: Callable[[], T]) -> T | None:
    """The adopted object, or None when Twilio does not know it `where` (404, or refused to
    these credentials, which is what another parent's object answers). Any other failure goes
    up to the operation's report (providers/errors.py): Twilio's and the network's as one
    message, a bug with its traceback."""
    return unless_status(fetch, (401, 403, 404))


def not_there(kind: str, name: str, sid: str, where: str) -> AdoptionError:
    return AdoptionError(
        kind,
        name,
        f"cannot adopt {sid}: {where} holds no such object (it does not exist, or lives in "
        "another account); nothing was changed. Fix the SID under `adopt:` in the stack file "
        "(`python -m estate discover` lists what exists).",
    )
