"""Delivery tracking: every service of a tenant reports delivery status to the collector,
including Twilio's auto-generated default service, which carries messages sent without one."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from architecture.planner import PlannedAccount, PlannedService
from providers.default_messaging_service import DefaultMessagingService


@dataclass(frozen=True)
class DeliveryTrackingArgs:
    account: PlannedAccount
    account_sid: pulumi.Input[str]


class DeliveryTracking(pulumi.ComponentResource):
    """Owns the status-callback wiring of one tenant."""

    default_service: DefaultMessagingService | None

    def __init__(
        self, name: str, args: DeliveryTrackingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tlz:index:DeliveryTracking", name, None, opts)
        self._account = args.account
        if args.account.adopt_sid and args.account.default_service_status_callback is None:
            # An adopted account keeps its default service as found until the stack sets a
            # collector URL: managing it now would clear whatever callback it has.
            self.default_service = None
            self.register_outputs({})
            return
        self.default_service = DefaultMessagingService(
            f"{args.account.logical_name}-default-service",
            account_key=args.account.account_key,
            account_sid=args.account_sid,
            status_callback=args.account.default_service_status_callback,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"default_service_sid": self.default_service.sid})

    @staticmethod
    def status_callback_for(service: PlannedService) -> str | None:
        """The planner already resolved `collector` to the stack's collector URL."""
        return service.status_callback
