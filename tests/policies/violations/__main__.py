"""A test-only program that registers the providers' resources directly, the way an estate not
built from our stack files could: the stack-file schema refuses these violations before any
resource exists, so the policy pack is the last line of defence, and this proves it.

`violations:scenario` picks the estate. Only previews run: nothing reaches Twilio, so the SIDs
are literal stand-ins.
"""

import pulumi

from providers.api_key import ApiKey
from providers.default_messaging_service import DefaultMessagingService
from providers.messaging_service import MessagingService
from providers.phone_number import PhoneNumber
from providers.subaccount import Subaccount, SubaccountInputs

PARENT_SID = "AC" + "0" * 32
ACME_SID = "AC" + "a" * 32
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


def service(name: str, key: str, sid: str, use_case: str, n: int) -> MessagingService:
    settings = {
        "friendly_name": f"{name} [tlz:{tag(n)}]",
        "use_case": use_case,
        "status_callback": CALLBACK,
    }
    return MessagingService(name, account_key=key, account_sid=sid, tag=tag(n), settings=settings)


def compliant_tenant(environment: str) -> None:
    """One production-grade tenant: protected, restricted key, services that report status."""
    protect = environment == "production"
    subaccount("acme", environment, protect=protect)
    ApiKey(
        "acme-key-backend",
        account_key="acme",
        account_sid=ACME_SID,
        key_name="backend",
        kind="restricted",
        permissions=["/twilio/messaging/messages/create"],
        friendly_name=f"acme backend [tlz:{tag(2)}]",
        tag=tag(2),
    )
    DefaultMessagingService(
        "acme-default-service", account_key="acme", account_sid=ACME_SID, status_callback=CALLBACK
    )
    service("acme-svc-notifications", "acme", ACME_SID, "notifications", 3)
    PhoneNumber(
        "acme-num-notifications-1",
        account_key="acme",
        account_sid=ACME_SID,
        use_case="notifications",
        tag=tag(4),
        friendly_name=f"acme notifications #1 [tlz:{tag(4)}]",
        search_or_number={"country": "US", "area_code": "415"},
        sms_webhooks={},
        release_on_delete=False,
        opts=pulumi.ResourceOptions(protect=protect),
    )


scenario = pulumi.Config("violations").require("scenario")
if scenario == "compliant":
    compliant_tenant("production")
elif scenario == "service-on-parent":
    compliant_tenant("production")
    service("parent-svc-marketing", "parent", PARENT_SID, "marketing", 5)
elif scenario == "two-services-for-one-use-case":
    compliant_tenant("production")
    # The subaccount's Twilio-generated default service (registered above) is no second
    # service; this one is.
    service("acme-svc-notifications-2", "acme", ACME_SID, "notifications", 6)
elif scenario == "unprotected-production-subaccount":
    subaccount("acme", "production", protect=False)
    DefaultMessagingService(
        "acme-default-service", account_key="acme", account_sid=ACME_SID, status_callback=CALLBACK
    )
else:
    raise ValueError(f"unknown scenario {scenario!r}")
