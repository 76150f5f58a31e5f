"""Which environment a hand-named subaccount serves, read from its friendly name.

Accounts built by the landing zone carry the environment in their names ("Appointly shared
(development) [tlz:…]"); legacy ones usually say "dev", "test", "staging" or "prod" somewhere.
A name that names no environment is taken as production: in practice such subaccounts belong
to a customer or a business unit, which is where production traffic lives.
"""

from __future__ import annotations

import re
from typing import Final

DEVELOPMENT: Final = "development"
STAGING: Final = "staging"
PRODUCTION: Final = "production"

_WORDS: Final = {
    DEVELOPMENT: frozenset(
        {"dev", "develop", "development", "test", "testing", "sandbox", "qa", "local"}
    ),
    STAGING: frozenset({"staging", "stage", "stg", "uat", "preprod", "pre-prod", "preproduction"}),
    PRODUCTION: frozenset({"prod", "production", "live", "prd"}),
}
_TOKEN = re.compile(r"[a-z0-9]+(?:-prod)?")


def environment_of(friendly_name: str) -> str:
    """development, staging or production, by the first environment word of the name."""
    for token in _TOKEN.findall(friendly_name.lower()):
        for environment in (DEVELOPMENT, STAGING, PRODUCTION):
            if token in _WORDS[environment]:
                return environment
    return PRODUCTION
