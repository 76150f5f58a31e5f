"""A tenant: one subaccount (an environment, a business unit or a customer), its API keys,
one messaging setup per use case, and the delivery tracking of all of them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

import identity_tags
from architecture.planner import PlannedAccount, PlannedApiKey
from components.delivery_tracking import DeliveryTracking, DeliveryTrackingArgs
from components.messaging import UseCaseMessaging, UseCaseMessagingArgs
from providers.api_key import ApiKey
from providers.subaccount import Subaccount, SubaccountInputs


@dataclass(frozen=True)
class TenantArgs:
    account: PlannedAccount
    project: str
    stack: str
    state_mark: str | None = None


class Tenant(pulumi.ComponentResource):
    subaccount: Subaccount
    api_keys: dict[str, ApiKey]
    messaging: dict[str, UseCaseMessaging]
    delivery: DeliveryTracking

    def __init__(
        self, name: str, args: TenantArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tlz:index:Tenant", name, None, opts)
        account = args.account
        child = pulumi.ResourceOptions(parent=self)

        self.subaccount = Subaccount(
            account.logical_name,
            SubaccountInputs(
                account_key=account.account_key,
                environment=account.environment,
                role=account.role,
                friendly_name=account.friendly_name,
                tag=account.tag,
                state_mark=args.state_mark,
                adopt_sid=account.adopt_sid,
            ),
            # Closing a subaccount is permanent: production ones are protected.
            opts=pulumi.ResourceOptions(parent=self, protect=account.protect),
        )
        sid = self.subaccount.sid
        self.api_keys = {key.name: _api_key(key, sid, args, child) for key in account.api_keys}
        self.delivery = DeliveryTracking(
            f"{account.logical_name}-delivery",
            DeliveryTrackingArgs(account=account, account_sid=sid),
            opts=child,
        )
        tags = {service.use_case: service.tag for service in account.services}
        self.messaging = {
            service.use_case: UseCaseMessaging(
                service.logical_name,
                UseCaseMessagingArgs(
                    service=service,
                    account_sid=sid,
                    status_callback=self.delivery.status_callback_for(service),
                    sibling_service_tags=tuple(
                        tag for use_case, tag in tags.items() if use_case != service.use_case
                    ),
                    state_mark=args.state_mark,
                ),
                opts=child,
            )
            for service in account.services
        }
        self.register_outputs(
            {
                "subaccount_sid": sid,
                "api_key_sids": {name: key.sid for name, key in self.api_keys.items()},
                "service_sids": {
                    use_case: messaging.service.sid
                    for use_case, messaging in self.messaging.items()
                },
            }
        )


def _api_key(
    key: PlannedApiKey,
    account_sid: pulumi.Output[str],
    args: TenantArgs,
    opts: pulumi.ResourceOptions,
) -> ApiKey:
    # Each key generation (kind, rotation) has its own tag: during a rotation the new key
    # must not mistake the old one, still in use, for an orphan of its own.
    generation = f"{key.logical_name}/{key.kind}/r{key.rotation}"
    tag = identity_tags.identity_tag(args.project, args.stack, key.account_key, generation)
    if key.adopt_sid:
        # Adopted: it keeps its name, and Twilio never returns its secret.
        friendly_name = key.friendly_name
        pulumi.log.info(
            f"ApiKey '{key.account_key}/{key.name}': adopts {key.adopt_sid} without its secret "
            "(Twilio returns a secret only when a key is minted); bump `rotation` to mint a "
            "managed key with a secret",
        )
    else:
        friendly_name = identity_tags.friendly_name(key.friendly_name.rsplit(" [", 1)[0], tag)
    return ApiKey(
        key.logical_name,
        account_key=key.account_key,
        account_sid=account_sid,
        key_name=key.name,
        kind=key.kind,
        permissions=list(key.permissions),
        rotation=key.rotation,
        friendly_name=friendly_name,
        tag=tag,
        state_mark=args.state_mark,
        adopt_sid=key.adopt_sid,
        opts=opts,
    )
