"""One use case's messaging inside a tenant: the Messaging Service, its phone numbers and
the sender pool that attaches them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from architecture.planner import PlannedNumber, PlannedService
from providers.messaging_service import SETTINGS, MessagingService
from providers.phone_number import PhoneNumber
from providers.sender_pool import SenderPool

# Every service setting but the status callback, which delivery tracking decides.
SERVICE_SETTINGS = tuple(name for name in SETTINGS if name != "status_callback")


@dataclass(frozen=True)
class UseCaseMessagingArgs:
    service: PlannedService
    account_sid: pulumi.Input[str]
    status_callback: pulumi.Input[str] | None
    # Tags of the tenant's other services: a sender found there is moved, not refused.
    sibling_service_tags: tuple[str, ...]
    state_mark: str | None = None


class UseCaseMessaging(pulumi.ComponentResource):
    service: MessagingService
    numbers: dict[str, PhoneNumber]
    pool: SenderPool

    def __init__(
        self, name: str, args: UseCaseMessagingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tlz:index:UseCaseMessaging", name, None, opts)
        planned = args.service
        child = pulumi.ResourceOptions(parent=self)

        settings = {field: getattr(planned, field) for field in SERVICE_SETTINGS}
        settings["status_callback"] = args.status_callback
        self.service = MessagingService(
            planned.logical_name,
            account_key=planned.account_key,
            account_sid=args.account_sid,
            tag=planned.tag,
            settings=settings,
            state_mark=args.state_mark,
            adopt_sid=planned.adopt_sid,
            opts=child,
        )
        self.numbers = {
            number.logical_name: _phone_number(number, args.account_sid, args.state_mark, child)
            for number in planned.numbers
        }
        self.pool = SenderPool(
            planned.pool.logical_name,
            account_key=planned.account_key,
            account_sid=args.account_sid,
            use_case=planned.use_case,
            service_sid=self.service.sid,
            phone_number_sids=[number.sid for number in self.numbers.values()],
            short_code_sids=list(planned.pool.short_codes),
            alpha_senders=list(planned.pool.alpha_senders),
            movable_from_tags=list(args.sibling_service_tags),
            opts=child,
        )
        self.register_outputs(
            {
                "service_sid": self.service.sid,
                "numbers": [number.number for number in self.numbers.values()],
                "sender_count": self.pool.sender_count,
            }
        )


def _phone_number(
    number: PlannedNumber,
    account_sid: pulumi.Input[str],
    state_mark: str | None,
    opts: pulumi.ResourceOptions,
) -> PhoneNumber:
    if number.transfer_from:
        origin = "the parent account" if number.transfer_from == "parent" else number.transfer_from
        pulumi.log.info(
            f"PhoneNumber {number.phone_number} ({number.adopt_sid}): moves from {origin} to "
            f"tenant '{number.account_key}' ({number.use_case}) by Twilio's number transfer: "
            "same number, same SID, never released",
        )
    search_or_number: dict[str, Any]
    if number.phone_number:
        search_or_number = {"phone_number": number.phone_number}
    else:
        search = number.search
        assert search is not None, "the planner gives a number either digits or a search"
        search_or_number = {
            "country": search.country,
            "area_code": search.area_code,
            "contains": search.contains,
            "sms_enabled": search.sms_enabled,
        }
    return PhoneNumber(
        number.logical_name,
        account_key=number.account_key,
        account_sid=account_sid,
        use_case=number.use_case,
        tag=number.tag,
        friendly_name=number.friendly_name,
        search_or_number=search_or_number,
        sms_webhooks={
            "sms_url": number.sms_url,
            "sms_method": number.sms_method,
            "sms_fallback_url": number.sms_fallback_url,
            "sms_fallback_method": number.sms_fallback_method,
        },
        release_on_delete=number.release_on_delete,
        state_mark=state_mark,
        adopt_sid=number.adopt_sid,
        transfer_from=number.transfer_from,
        # Never released on replace: a protected number can't be replaced or deleted by accident.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=number.protect)),
    )
