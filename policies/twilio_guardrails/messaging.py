"""Messaging Services: one per use case per account, each reporting delivery status, every
webhook on HTTPS."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from twilio_guardrails import tokens, urls
from twilio_guardrails.config import allow_loopback_in, listing, schema
from twilio_guardrails.estate import UNKNOWN, Estate, Resource, is_known_text, where
from twilio_guardrails.rules import Rule, Violation

# -- one-messaging-service-per-use-case ------------------------------------------------------


def check_one_service_per_use_case(
    estate: Estate, _settings: Mapping[str, Any]
) -> Iterator[Violation]:
    # Grouped by the account each service is traced to (estate.py), not by its label: two
    # labels cannot make one subaccount hold two services for a use case. Only our
    # MessagingService token counts: Twilio's auto-generated default service of an account
    # (DefaultMessagingService) is no second service for a use case.
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    accounts = {}
    for service, account, _ in estate.in_accounts(tokens.MESSAGING_SERVICE):
        use_case = service.value(tokens.USE_CASE)
        if account.decided and is_known_text(use_case):
            groups[(account.identity, use_case)].append(service)
            accounts[account.identity] = account
    for (identity, use_case), services in sorted(groups.items()):
        account = accounts[identity]
        for index, extra in enumerate(services[1:], start=1):
            before = ", ".join(f"'{s.name}'" for s in services[:index])
            yield Violation(
                f"{extra.describe()} is another '{use_case}' service in "
                f"{where(account, None)}, besides {before}: keep one Messaging Service per "
                "use case in an account; remove this one or give it another use case.",
                extra.urn,
            )


one_messaging_service_per_use_case = Rule(
    name="one-messaging-service-per-use-case",
    description="At most one Messaging Service per use case in each account.",
    check=check_one_service_per_use_case,
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


def check_status_callback(estate: Estate, config: Mapping[str, Any]) -> Iterator[Violation]:
    types = [tokens.MESSAGING_SERVICE]
    if config["include_default_service"]:
        types.append(tokens.DEFAULT_MESSAGING_SERVICE)
    for service, account, environment in estate.in_accounts(*types):
        url = service.value(tokens.STATUS_CALLBACK)
        if url is UNKNOWN:
            continue  # checked again by `pulumi up`, once the URL is known
        place = where(account, environment)
        if url is None or url == "":
            yield Violation(
                f"{service.describe()} ({place}) has no status_callback: set it to the HTTPS "
                "URL that receives delivery status (the collector's), so every message sent "
                "through it is tracked.",
                service.urn,
            )
            continue
        problem = urls.problem(url, environment in config["allow_loopback_in"])
        if problem:
            yield Violation(
                f"{service.describe()} ({place}): status_callback '{url}' {problem}. Set it "
                f"to an HTTPS URL{_loopback_note(config['allow_loopback_in'])}.",
                service.urn,
            )


status_callback_required = Rule(
    name="status-callback-required",
    description="Every Messaging Service reports delivery status to an HTTPS URL.",
    check=check_status_callback,
    config_schema=_STATUS_SCHEMA,
)

# -- https-webhooks --------------------------------------------------------------------------

_HTTPS_SCHEMA = schema(allow_loopback_in=allow_loopback_in())


def check_https_webhooks(estate: Estate, config: Mapping[str, Any]) -> Iterator[Violation]:
    for resource, account, environment in estate.in_accounts(*tokens.WEBHOOK_PROPS):
        loopback_ok = environment in config["allow_loopback_in"]
        for prop in tokens.WEBHOOK_PROPS[resource.type]:
            url = resource.value(prop)
            if url is UNKNOWN or url is None or url == "":
                continue
            problem = urls.problem(url, loopback_ok)
            if problem:
                yield Violation(
                    f"{resource.describe()} ({where(account, environment)}): {prop} '{url}' "
                    f"{problem}. Use an HTTPS URL"
                    f"{_loopback_note(config['allow_loopback_in'])}.",
                    resource.urn,
                )


https_webhooks = Rule(
    name="https-webhooks",
    description="Every webhook URL Twilio calls is HTTPS.",
    check=check_https_webhooks,
    config_schema=_HTTPS_SCHEMA,
)


def _loopback_note(environments: list[str]) -> str:
    if not environments:
        return " (this stack allows no loopback URLs)"
    return f" (loopback URLs are allowed only in: {listing(environments)})"
