"""What an audit reads from an account: plain, frozen records with no Twilio client objects in
them (and never an auth token or key secret).

Messages are not kept: the parent's traffic is summed into `ParentTraffic` and each service's
sampled traffic into counts per use case while the pages stream by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SERVICE_NAME = "[Auto-generated] Default Messaging Service"


@dataclass(frozen=True)
class Sender:
    sid: str
    kind: str  # phone_number | short_code | alpha_sender
    address: str  # +14155550100, 12345, or the alpha sender ID


@dataclass(frozen=True)
class Service:
    sid: str
    friendly_name: str
    usecase: str  # Twilio's declared use case; "undeclared" when none was declared
    settings: Mapping[str, Any]  # every setting Twilio answers, webhooks included
    senders: tuple[Sender, ...]
    # Sampled recent traffic: messages per use case their bodies read as (estate.traffic).
    traffic: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_default(self) -> bool:
        """Twilio's auto-generated default service (one per account, cannot be deleted)."""
        return self.friendly_name == DEFAULT_SERVICE_NAME

    @property
    def status_callback(self) -> str | None:
        return self.settings.get("status_callback")


@dataclass(frozen=True)
class PhoneNumber:
    sid: str
    phone_number: str
    friendly_name: str
    sms_capable: bool
    sms_url: str | None
    sms_fallback_url: str | None
    status_callback: str | None
    sms_method: str = "POST"
    sms_fallback_method: str = "POST"


@dataclass(frozen=True)
class ApiKey:
    sid: str
    friendly_name: str
    # restricted, or standard: the API does not tell a Main key from a standard one (both
    # have no policy and may sign tokens), so Main keys are reported as standard.
    kind: str
    permissions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Account:
    sid: str
    friendly_name: str
    status: str  # active | suspended | closed
    is_parent: bool
    environment: str  # development | staging | production, from its name (estate.environments)
    services: tuple[Service, ...] = ()
    numbers: tuple[PhoneNumber, ...] = ()
    keys: tuple[ApiKey, ...] = ()
    # Why part of the account could not be read (closed, credentials refused...), or None.
    unreadable: str | None = None

    def service_of(self, number_sid: str) -> Service | None:
        for service in self.services:
            if any(sender.sid == number_sid for sender in service.senders):
                return service
        return None


@dataclass(frozen=True)
class ParentTraffic:
    """Messages sent from the parent account in the audit window.

    `messages` and `price` come from Usage Records (one request, exact whatever the volume);
    `by_sender` from streaming the message list (capped at `scanned`, newest first), so the
    finding can name what sent them without ever holding the messages.
    """

    days: int
    messages: int
    price: float
    by_sender: Mapping[str, int]  # "+1415… via MG…" -> messages among those scanned
    scanned: int
    truncated: bool
    # When the oldest and newest of the scanned messages were sent (ISO 8601), if any.
    first_sent: str | None = None
    last_sent: str | None = None

    def sender_numbers(self) -> set[str]:
        """The From of every sender scanned (the part before ' via MG…')."""
        return {sender.split(" via ", 1)[0] for sender in self.by_sender}


@dataclass(frozen=True)
class Estate:
    parent: Account
    subaccounts: tuple[Account, ...]
    parent_traffic: ParentTraffic
    requests: int = 0  # Twilio requests the read took

    @property
    def accounts(self) -> tuple[Account, ...]:
        return (self.parent, *self.subaccounts)
