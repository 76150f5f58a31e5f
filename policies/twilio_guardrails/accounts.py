"""The parent account is a shell: it owns the subaccounts and never sends."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from twilio_guardrails import tokens

# What can send: a service, a number, a pool of senders. Twilio's auto-generated default
# service of the parent exists whatever we do (it cannot be deleted), and giving it a status
# callback sends nothing, so it is not refused here.
SENDING_TYPES = {
    tokens.MESSAGING_SERVICE: "is a Messaging Service",
    tokens.PHONE_NUMBER: "buys a phone number",
    tokens.SENDER_POOL: "attaches senders",
}


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    what = SENDING_TYPES.get(args.resource_type)
    if what is None:
        return
    kind = tokens.kind_of(args.resource_type)
    # An unknown account_key raises here; the SDK turns that into an advisory note. The
    # program passes it as a plain string, so it is known at preview.
    account_key = args.props.get(tokens.ACCOUNT_KEY)
    if not isinstance(account_key, str) or not account_key:
        report_violation(
            f"{kind} '{args.name}' has no account_key, so nothing shows it is outside the parent "
            "account: set account_key to the key of the tenant whose subaccount it belongs to."
        )
    elif account_key == tokens.PARENT_ACCOUNT_KEY:
        report_violation(
            f"{kind} '{args.name}' {what} on the parent account (account_key 'parent'); the "
            "parent account never sends. Move it into a tenant's subaccount: set account_key to "
            "the tenant key and account_sid to that subaccount's SID."
        )


no_sending_from_parent = ResourceValidationPolicy(
    name="no-sending-from-parent",
    description="No Messaging Service, phone number or sender on the parent account.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps="Declare the service and its senders in a tenant's subaccount.",
)
