"""What the pack recognises resources by: type tokens and plain props, never SIDs.

The tokens are those of the providers' `Resource` subclasses (`module="twilio", name=...`);
the pack cannot import the program, so they are spelled out here and a test holds them to the
providers' own. SIDs are no use: during the preview of a pull request that adds a tenant, every
SID is unknown. The plain props below are known at preview on every resource that has them.
"""

from __future__ import annotations

from typing import Final

_DYNAMIC: Final = "pulumi-python:dynamic/twilio"

SUBACCOUNT: Final = f"{_DYNAMIC}:Subaccount"
API_KEY: Final = f"{_DYNAMIC}:ApiKey"
MESSAGING_SERVICE: Final = f"{_DYNAMIC}:MessagingService"
# Twilio's own "[Auto-generated] Default Messaging Service" of an account, adopted, not created:
# its own token, so it never counts as a second service for a use case.
DEFAULT_MESSAGING_SERVICE: Final = f"{_DYNAMIC}:DefaultMessagingService"
PHONE_NUMBER: Final = f"{_DYNAMIC}:PhoneNumber"
SENDER_POOL: Final = f"{_DYNAMIC}:SenderPool"

ALL: Final = frozenset(
    {
        SUBACCOUNT,
        API_KEY,
        MESSAGING_SERVICE,
        DEFAULT_MESSAGING_SERVICE,
        PHONE_NUMBER,
        SENDER_POOL,
    }
)
# Everything that lives inside one account and says which in `account_key`.
IN_AN_ACCOUNT: Final = ALL - {SUBACCOUNT}

# Props (inputs echoed into outputs, and the SIDs Twilio assigns).
# The account a resource lives in: traced through the SID's property dependencies (estate.py).
ACCOUNT_SID: Final = "account_sid"
SID: Final = "sid"  # a resource's own SID, known once it exists
SERVICE_SID: Final = "service_sid"  # on SenderPool: the service it gives senders to
# A label for messages only: `parent`, or the tenant key of a subaccount. Rules never decide
# on it (estate.py traces the account), so relabelling moves nothing out of a rule's reach.
ACCOUNT_KEY: Final = "account_key"
ENVIRONMENT: Final = "environment"  # on Subaccount: development, staging, production
ROLE: Final = "role"  # on Subaccount, when the program declares it: business_unit, customer, shared
USE_CASE: Final = "use_case"  # on MessagingService, PhoneNumber, SenderPool
KIND: Final = "kind"  # on ApiKey: standard or restricted
PERMISSIONS: Final = "permissions"  # on ApiKey

PARENT_ACCOUNT_KEY: Final = "parent"

# Webhook URLs per type: Twilio calls each of them.
WEBHOOK_PROPS: Final = {
    MESSAGING_SERVICE: ("inbound_request_url", "fallback_url", "status_callback"),
    DEFAULT_MESSAGING_SERVICE: ("status_callback",),
    PHONE_NUMBER: ("sms_url", "sms_fallback_url"),
}
STATUS_CALLBACK: Final = "status_callback"

# Senders of a SenderPool.
PHONE_NUMBER_SIDS: Final = "phone_number_sids"
SHORT_CODE_SIDS: Final = "short_code_sids"
ALPHA_SENDERS: Final = "alpha_senders"


def kind_of(resource_type: str) -> str:
    """`pulumi-python:dynamic/twilio:MessagingService` -> `MessagingService`."""
    return resource_type.rsplit(":", 1)[-1]
