"""A test-only program that registers the providers' resources directly, the way an estate not
built from our stack files could, including programs written to slip past the pack: labels
that lie, literal SIDs, SIDs computed from other resources. The stack-file schema refuses these
before any resource exists, so the policy pack is the last line of defence, and this proves it.

`violations:scenario` picks the estate. Only previews run: nothing reaches Twilio. A tenant's
resources take their account_sid from its Subaccount resource, as the program does, so the
engine records where each one lands; literal SIDs stand for what a program could hard-code.
"""

import pulumi

from providers.api_key import ApiKey
from providers.default_messaging_service import DefaultMessagingService
from providers.messaging_service import MessagingService
from providers.phone_number import PhoneNumber
from providers.sender_pool import SenderPool
from providers.subaccount import Subaccount, SubaccountInputs

PARENT_SID = "AC" + "0" * 32
CALLBACK = "https://hooks.example.com/twilio/status"


def tag(n: int) -> str:
    return f"{n:010x}"


def subaccount(key: str, environment: str, *, protect: bool) -> Subaccount:
    inputs = SubaccountInputs(
        account_key=key,
        environment=environment,
        role="customer" if environment == "production" else "shared",
        friendly_name=f"{key} ({environment}) [tlz:{tag(1)}]",
        tag=tag(1),
    )
    return Subaccount(key, inputs, opts=pulumi.ResourceOptions(protect=protect))


def service(
    name: str, key: str, sid, use_case: str, n: int, callback: str = CALLBACK
) -> MessagingService:
    settings = {
        "friendly_name": f"{name} [tlz:{tag(n)}]",
        "use_case": use_case,
        "status_callback": callback,
    }
    return MessagingService(name, account_key=key, account_sid=sid, tag=tag(n), settings=settings)


def api_key(name: str, key: str, sid, n: int) -> ApiKey:
    return ApiKey(
        name,
        account_key=key,
        account_sid=sid,
        key_name="backend",
        kind="restricted",
        permissions=["/twilio/messaging/messages/create"],
        friendly_name=f"{name} [tlz:{tag(n)}]",
        tag=tag(n),
    )


def phone_number(name: str, key: str, sid, n: int, *, protect: bool) -> PhoneNumber:
    return PhoneNumber(
        name,
        account_key=key,
        account_sid=sid,
        use_case="notifications",
        tag=tag(n),
        friendly_name=f"{name} [tlz:{tag(n)}]",
        search_or_number={"country": "US", "area_code": "415"},
        sms_webhooks={},
        release_on_delete=False,
        opts=pulumi.ResourceOptions(protect=protect),
    )


def compliant_tenant(environment: str) -> tuple[Subaccount, PhoneNumber]:
    """One production-grade tenant: protected, restricted key, services that report status."""
    protect = environment == "production"
    acme = subaccount("acme", environment, protect=protect)
    api_key("acme-key-backend", "acme", acme.sid, 2)
    DefaultMessagingService(
        "acme-default-service", account_key="acme", account_sid=acme.sid, status_callback=CALLBACK
    )
    service("acme-svc-notifications", "acme", acme.sid, "notifications", 3)
    number = phone_number("acme-num-notifications-1", "acme", acme.sid, 4, protect=protect)
    return acme, number


scenario = pulumi.Config("violations").require("scenario")
if scenario == "compliant":
    compliant_tenant("production")
elif scenario == "service-on-parent":
    compliant_tenant("production")
    service("parent-svc-marketing", "parent", PARENT_SID, "marketing", 5)
elif scenario == "two-services-for-one-use-case":
    acme, _ = compliant_tenant("production")
    # The subaccount's Twilio-generated default service (registered above) is no second
    # service; this one is.
    service("acme-svc-notifications-2", "acme", acme.sid, "notifications", 6)
elif scenario == "relabelled-literal-parent-sid":
    # Labelled as tenant acme, but its account_sid is a literal: Twilio puts it on the parent.
    compliant_tenant("production")
    service("acme-svc-marketing", "acme", PARENT_SID, "marketing", 7)
elif scenario == "relabelled-second-service":
    # Labelled as another tenant, but its account_sid is acme's: a second notifications
    # service in acme's subaccount.
    acme, _ = compliant_tenant("production")
    service("globex-svc-notifications", "globex", acme.sid, "notifications", 8)
elif scenario == "relabelled-into-development":
    # Labelled as the development tenant, where loopback callbacks are allowed, but in acme's
    # production subaccount.
    acme, _ = compliant_tenant("production")
    subaccount("lab", "development", protect=False)
    loopback = "http://127.0.0.1:4020/twilio/status"
    service("lab-svc-marketing", "lab", acme.sid, "marketing", 11, callback=loopback)
elif scenario == "key-on-parent":
    compliant_tenant("development")
    api_key("ops-key", "acme", PARENT_SID, 9)
elif scenario == "unknown-sid-from-another-resource":
    # Unknown at preview, but computed from a phone number, not from a Subaccount: no graph
    # shows it to be a subaccount of this stack, so it counts as the parent.
    _, number = compliant_tenant("production")
    service("acme-svc-poll", "acme", number.sid, "poll", 10)
elif scenario == "pool-on-parents-default-service":
    compliant_tenant("production")
    parent_default = DefaultMessagingService(
        "parent-default-service",
        account_key="parent",
        account_sid=PARENT_SID,
        status_callback=CALLBACK,
    )
    SenderPool(
        "parent-default-pool",
        account_key="acme",
        account_sid=PARENT_SID,
        use_case="notifications",
        service_sid=parent_default.sid,
        phone_number_sids=[],
        short_code_sids=[],
        alpha_senders=["ACME"],
        movable_from_tags=[],
    )
elif scenario == "unprotected-production-subaccount":
    acme = subaccount("acme", "production", protect=False)
    DefaultMessagingService(
        "acme-default-service", account_key="acme", account_sid=acme.sid, status_callback=CALLBACK
    )
else:
    raise ValueError(f"unknown scenario {scenario!r}")
