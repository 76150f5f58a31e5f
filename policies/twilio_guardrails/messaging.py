"""Messaging Services: one per use case per subaccount, each reporting delivery status, every
webhook on HTTPS."""

from __future__ import annotations

from collections import defaultdict

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from twilio_guardrails import tokens, urls
from twilio_guardrails.config import allow_loopback_in, listing, schema, settings
from twilio_guardrails.estate import UNKNOWN, Estate, describe, is_known_text, value, where

# -- one-messaging-service-per-use-case ------------------------------------------------------


def _one_service_per_use_case(args: StackValidationArgs, report_violation: ReportViolation):
    estate = Estate(args.resources)
    groups: dict[tuple[str, str], list[PolicyResource]] = defaultdict(list)
    # Only our MessagingService token: Twilio's auto-generated default service of an account
    # (DefaultMessagingService) is no second service for a use case.
    for service in estate.of(tokens.MESSAGING_SERVICE):
        account_key = value(service.props, tokens.ACCOUNT_KEY)
        use_case = value(service.props, tokens.USE_CASE)
        if is_known_text(account_key) and is_known_text(use_case):
            groups[(account_key, use_case)].append(service)
    for (account_key, use_case), services in sorted(groups.items()):
        if len(services) < 2:
            continue
        for index, extra in enumerate(services[1:], start=1):
            before = ", ".join(f"'{s.name}'" for s in services[:index])
            report_violation(
                f"{describe(extra)} is another '{use_case}' service in "
                f"{where(account_key, None)}, besides {before}: keep one Messaging Service per "
                "use case in a subaccount; remove this one or give it another use case.",
                extra.urn,
            )


one_messaging_service_per_use_case = StackValidationPolicy(
    name="one-messaging-service-per-use-case",
    description="At most one Messaging Service per use case in each subaccount.",
    validate=_one_service_per_use_case,
    enforcement_level=EnforcementLevel.MANDATORY,
)

# -- status-callback-required ----------------------------------------------------------------

_STATUS_SCHEMA = schema(
    allow_loopback_in=allow_loopback_in(),
    include_default_service={
        "type": "boolean",
        "default": True,
        "description": "Also require it of Twilio's auto-generated default service of each "
        "account, which carries the messages sent without a service.",
    },
)


def _status_callback_required(args: StackValidationArgs, report_violation: ReportViolation):
    config = settings(_STATUS_SCHEMA, args.get_config())
    types = [tokens.MESSAGING_SERVICE]
    if config["include_default_service"]:
        types.append(tokens.DEFAULT_MESSAGING_SERVICE)
    estate = Estate(args.resources)
    for service, account_key, environment in estate.in_accounts(*types):
        url = value(service.props, tokens.STATUS_CALLBACK)
        if url is UNKNOWN:
            continue  # checked again by `pulumi up`, once the URL is known
        if url is None or url == "":
            report_violation(
                f"{describe(service)} ({where(account_key, environment)}) has no "
                "status_callback: set it to the HTTPS URL that receives delivery status (the "
                "collector's), so every message sent through it is tracked.",
                service.urn,
            )
            continue
        loopback_ok = environment in config["allow_loopback_in"]
        problem = urls.problem(url, loopback_ok)
        if problem:
            report_violation(
                f"{describe(service)} ({where(account_key, environment)}): status_callback "
                f"'{url}' {problem}. Set it to an HTTPS URL"
                f"{_loopback_note(config['allow_loopback_in'])}.",
                service.urn,
            )


status_callback_required = StackValidationPolicy(
    name="status-callback-required",
    description="Every Messaging Service reports delivery status to an HTTPS URL.",
    validate=_status_callback_required,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_STATUS_SCHEMA,
)

# -- https-webhooks --------------------------------------------------------------------------

_HTTPS_SCHEMA = schema(allow_loopback_in=allow_loopback_in())


def _https_webhooks(args: StackValidationArgs, report_violation: ReportViolation):
    config = settings(_HTTPS_SCHEMA, args.get_config())
    estate = Estate(args.resources)
    for resource, account_key, environment in estate.in_accounts(*tokens.WEBHOOK_PROPS):
        loopback_ok = environment in config["allow_loopback_in"]
        for prop in tokens.WEBHOOK_PROPS[resource.resource_type]:
            url = value(resource.props, prop)
            if url is UNKNOWN or url is None or url == "":
                continue
            problem = urls.problem(url, loopback_ok)
            if problem:
                report_violation(
                    f"{describe(resource)} ({where(account_key, environment)}): {prop} '{url}' "
                    f"{problem}. Use an HTTPS URL"
                    f"{_loopback_note(config['allow_loopback_in'])}.",
                    resource.urn,
                )


https_webhooks = StackValidationPolicy(
    name="https-webhooks",
    description="Every webhook URL Twilio calls is HTTPS.",
    validate=_https_webhooks,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_HTTPS_SCHEMA,
)


def _loopback_note(environments: list[str]) -> str:
    if not environments:
        return " (this stack allows no plain-http loopback URLs)"
    return f" (plain http to a loopback host is allowed only in: {listing(environments)})"
