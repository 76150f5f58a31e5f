"""Small in-memory estates (what the reader would return), one object changed per case."""

from __future__ import annotations

import itertools
from dataclasses import replace

from estate.model import (
    DEFAULT_SERVICE_NAME,
    Account,
    ApiKey,
    Estate,
    ParentTraffic,
    PhoneNumber,
    Sender,
    Service,
)

HTTPS_CALLBACK = "https://hooks.example.com/twilio/status"
PARENT_SID = "AC" + "f" * 32
_serial = itertools.count(1)


def sid(prefix: str) -> str:
    return f"{prefix}{next(_serial):032x}"


def number(*, sms_url: str | None = None) -> PhoneNumber:
    serial = next(_serial)
    return PhoneNumber(
        sid=f"PN{serial:032x}",
        phone_number=f"+1415{2000000 + serial:07d}",
        friendly_name="",
        sms_capable=True,
        sms_url=sms_url,
        sms_fallback_url=None,
        status_callback=None,
    )


def default_service() -> Service:
    return Service(sid("MG"), DEFAULT_SERVICE_NAME, "undeclared", {}, ())


def service(
    name: str,
    usecase: str = "notifications",
    *,
    numbers: tuple[PhoneNumber, ...] = (),
    status_callback: str | None = HTTPS_CALLBACK,
    traffic: dict[str, int] | None = None,
    **settings: object,
) -> Service:
    return Service(
        sid=sid("MG"),
        friendly_name=name,
        usecase=usecase,
        settings={"status_callback": status_callback, **settings},
        senders=tuple(Sender(n.sid, "phone_number", n.phone_number) for n in numbers),
        traffic=traffic or {},
    )


def key(name: str = "app", kind: str = "restricted") -> ApiKey:
    permissions = ("/twilio/messaging/messages/create",) if kind == "restricted" else ()
    return ApiKey(sid("SK"), name, kind, permissions)


def subaccount(
    name: str,
    environment: str,
    *,
    services: tuple[Service, ...] | None = None,
    numbers: tuple[PhoneNumber, ...] | None = None,
    keys: tuple[ApiKey, ...] | None = None,
    status: str = "active",
) -> Account:
    """A compliant subaccount by default: one notifications service holding its number, a
    restricted key."""
    if numbers is None:
        numbers = (number(),)
    if services is None:
        services = (default_service(), service(f"{name} notifications", numbers=numbers))
    return Account(
        sid=sid("AC"),
        friendly_name=name,
        status=status,
        is_parent=False,
        environment=environment,
        services=services,
        numbers=numbers,
        keys=(key(),) if keys is None else keys,
    )


def parent(**changes: object) -> Account:
    base = Account(
        sid=PARENT_SID,
        friendly_name="Parent",
        status="active",
        is_parent=True,
        environment="production",
        services=(default_service(),),
    )
    return replace(base, **changes)


def quiet(days: int = 30) -> ParentTraffic:
    return ParentTraffic(days, 0, 0.0, {}, 0, False)


def estate(*subaccounts: Account, parent_account: Account | None = None) -> Estate:
    return Estate(parent_account or parent(), subaccounts, quiet())


def landing_zone(*extra: Account) -> Estate:
    """What the landing zone builds: development, staging, production, all compliant."""
    return estate(
        subaccount("Appointly (development)", "development"),
        subaccount("Appointly (staging)", "staging"),
        subaccount("Bayside Dental (production)", "production"),
        *extra,
    )
