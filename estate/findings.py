"""Findings: each names the rule, the object (name and SID), why it matters and what to do.

Two sources, one catalogue:
- the policy pack's rules, fed what the audit read (estate.rulebook), whose messages say what
  is wrong with the object;
- the audit's own checks, for what no pack rule can see in a program's resources: messages
  already sent from the parent, a service's undeclared or mixed use case, numbers in no
  service, accounts without any API key, accounts that could not be read.

Levels come from the audit config (estate.config), in the pack's config-file format.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from estate import traffic
from estate.model import Account, Estate
from estate.rulebook import Subject, Violation

MANDATORY: Final = "mandatory"
ADVISORY: Final = "advisory"
DISABLED: Final = "disabled"


@dataclass(frozen=True)
class RuleInfo:
    name: str
    source: str  # "policy pack" or "audit"
    title: str
    why: str
    fix: str


RULES: Final[dict[str, RuleInfo]] = {
    info.name: info
    for info in (
        RuleInfo(
            "no-sending-from-parent",
            "policy pack",
            "The parent account never sends and holds no keys",
            "The parent is the shell of every subaccount: traffic sent from it cannot be "
            "contained, suspended or reported per environment or customer, a compliance "
            "problem there reaches the whole account, and a key on it reaches every subaccount.",
            "Move the numbers and services into the subaccount of the environment or customer "
            "they serve (a number moves without release: update its AccountSid); mint apps' "
            "keys in their subaccounts and delete the parent's.",
        ),
        RuleInfo(
            "parent-sending-history",
            "audit",
            "Messages the parent sent before its senders moved out",
            "History, not a current violation: every number that sent them now lives in a "
            "subaccount and the parent holds no sender, so it cannot send again.",
            "Nothing to move; rotate the parent's auth token if apps held it, and keep the "
            "dates for the record.",
        ),
        RuleInfo(
            "parent-sent-messages",
            "audit",
            "No messages sent from the parent",
            "Messages sent from the parent in the audit window mean apps hold the parent's "
            "credentials, which can also create, suspend and close every subaccount.",
            "Give each app an API key of its own subaccount and send from there; then rotate "
            "the parent's auth token.",
        ),
        RuleInfo(
            "isolated-environments",
            "policy pack",
            "Each environment has its own subaccount",
            "Without a development and a staging subaccount, tests run against production "
            "senders and data, and one environment's mistake reaches the others.",
            "Create the missing subaccounts (named for their environment) and point "
            "non-production apps at them.",
        ),
        RuleInfo(
            "declared-use-case",
            "audit",
            "Each service declares one use case and serves only it",
            "Twilio and the carriers judge a service by its declared use case (A2P campaigns, "
            "opt-out handling, throughput); a service with none, or sending codes and "
            "promotions alike, fits none of them and is filtered first.",
            "Declare the service's use case; split mixed traffic into one service per use case.",
        ),
        RuleInfo(
            "one-messaging-service-per-use-case",
            "policy pack",
            "One Messaging Service per use case in an account",
            "Two services for one use case split its sender pool, sticky sender and reporting, "
            "and only one of them can be registered for the use case's campaign.",
            "Merge the senders into one service per use case and delete the other service.",
        ),
        RuleInfo(
            "number-in-no-service",
            "audit",
            "Every SMS number is in a Messaging Service",
            "A number in no service sends without the service's settings (validity period, "
            "status callback, opt-out handling) and cannot be part of a registered campaign.",
            "Add the number to the service of its use case, or release it if nothing uses it.",
        ),
        RuleInfo(
            "status-callback-required",
            "policy pack",
            "Every service reports delivery status over HTTPS",
            "Without a status callback nobody sees failed or undelivered messages; over "
            "http:// the callbacks (numbers, message status) cross the network in clear.",
            "Set the service's status callback to the HTTPS URL of your delivery-data collector.",
        ),
        RuleInfo(
            "https-webhooks",
            "policy pack",
            "Every webhook is HTTPS",
            "Twilio posts message content and numbers to webhooks; over http:// anyone on the "
            "path reads and can alter them.",
            "Serve the webhook over HTTPS and update the URL.",
        ),
        RuleInfo(
            "sender-pool-limits",
            "policy pack",
            "Sender pools stay within Twilio's limits",
            "A service holds at most 400 senders (21714); past that, attaching fails.",
            "Split the traffic across services in separate subaccounts.",
        ),
        RuleInfo(
            "no-api-key",
            "audit",
            "Every account's apps use API keys",
            "An account without any API key is used with its auth token, which cannot be "
            "scoped or rotated per app; a leak means rotating it for everyone.",
            "Create a (restricted) API key per app in the account and move the apps to it.",
        ),
        RuleInfo(
            "restricted-api-keys",
            "policy pack",
            "Production keys are restricted",
            "A standard key in production can use every API of its account (numbers, "
            "services, messages of every app), not just what its app needs.",
            "Mint a restricted key per app with only the permissions it needs, move the app "
            "to it and delete the standard key.",
        ),
        RuleInfo(
            "unreadable-account",
            "audit",
            "Every account can be read",
            "An account the audit could not read is not audited: its findings are unknown.",
            "Check the account's status and the credentials, then audit again.",
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    rule: str
    level: str
    source: str
    account_sid: str
    account_name: str
    object_kind: str
    object_name: str
    object_sid: str
    message: str
    why: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finding(rule: str, level: str, subject: Subject, account_name: str, message: str) -> Finding:
    info = RULES[rule]
    return Finding(
        rule=rule,
        level=level,
        source=info.source,
        account_sid=subject.account_sid,
        account_name=account_name,
        object_kind=subject.kind,
        object_name=subject.name,
        object_sid=subject.sid,
        message=message,
        why=info.why,
        fix=info.fix,
    )


def _account_subject(account: Account) -> Subject:
    return Subject("Account", account.friendly_name, account.sid, account.sid)


# --- the audit's own checks --------------------------------------------------------------------


def audit_checks(estate: Estate) -> Iterator[tuple[str, Subject, str]]:
    """(rule, object, message) for what the pack's rules cannot see."""
    sent = estate.parent_traffic
    if sent.messages:
        top = sorted(sent.by_sender.items(), key=lambda item: (-item[1], item[0]))[:5]
        senders = ", ".join(f"{sender} ({count})" for sender, count in top)
        sample = f" of the newest {sent.scanned}" if sent.truncated else ""
    if sent.messages and _senders_moved_out(estate):
        yield (
            "parent-sending-history",
            _account_subject(estate.parent),
            f"History: the parent account sent {sent.messages} messages between "
            f"{sent.first_sent} and {sent.last_sent} (last {sent.days} days, "
            f"${sent.price:.2f}), from senders that have since moved to subaccounts"
            f"{sample}: {senders}. It holds no sender now.",
        )
    elif sent.messages:
        yield (
            "parent-sent-messages",
            _account_subject(estate.parent),
            f"The parent account sent {sent.messages} messages in the last {sent.days} days "
            f"(${sent.price:.2f}); senders{sample}: {senders or 'unknown'}.",
        )
    for account in estate.accounts:
        if account.unreadable is not None:
            if account.status != "closed":
                yield (
                    "unreadable-account",
                    _account_subject(account),
                    f"Account '{account.friendly_name}' ({account.status}) could not be read: "
                    f"{account.unreadable}.",
                )
            continue
        yield from _service_use_cases(account)
        for number in account.numbers:
            if number.sms_capable and account.service_of(number.sid) is None:
                yield (
                    "number-in-no-service",
                    Subject("PhoneNumber", number.phone_number, number.sid, account.sid),
                    f"PhoneNumber {number.phone_number} in '{account.friendly_name}' is in no "
                    "Messaging Service.",
                )
        if not account.is_parent and account.status == "active" and not account.keys:
            yield (
                "no-api-key",
                _account_subject(account),
                f"Subaccount '{account.friendly_name}' ({account.environment}) has no API key: "
                "its apps can only be using its auth token.",
            )


def _senders_moved_out(estate: Estate) -> bool:
    """The parent holds no number and no service but its default one, and every number its
    scanned messages came from lives in a subaccount now."""
    parent = estate.parent
    if parent.numbers or any(not service.is_default for service in parent.services):
        return False
    moved = {number.phone_number for a in estate.subaccounts for number in a.numbers}
    senders = estate.parent_traffic.sender_numbers()
    return bool(senders) and senders <= moved and estate.parent_traffic.first_sent is not None


def _service_use_cases(account: Account) -> Iterator[tuple[str, Subject, str]]:
    for service in account.services:
        if service.is_default:
            continue
        subject = Subject("MessagingService", service.friendly_name, service.sid, account.sid)
        where = f"MessagingService '{service.friendly_name}' in '{account.friendly_name}'"
        if service.usecase == "undeclared":
            yield ("declared-use-case", subject, f"{where} declares no use case (undeclared).")
        served = traffic.use_cases_served(service.traffic)
        if len(served) > 1:
            counts = ", ".join(f"{use_case} {service.traffic[use_case]}" for use_case in served)
            yield (
                "declared-use-case",
                subject,
                f"{where} serves several use cases by its recent traffic ({counts} of the "
                f"messages sampled), declared '{service.usecase}'.",
            )


# --- everything together -----------------------------------------------------------------------


def findings_of(
    estate: Estate, violations: list[Violation], levels: Mapping[str, str]
) -> list[Finding]:
    """Pack violations and the audit's own checks as findings, in catalogue order."""
    names = {account.sid: account.friendly_name for account in estate.accounts}
    parent_subject = _account_subject(estate.parent)
    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    # A service's sender pool is the service itself in Twilio: its findings join the
    # service's rather than repeating them.
    for violation in sorted(violations, key=lambda v: v.via_sender_pool):
        level = violation.level  # the pack's evaluate applied the config's level
        subject = violation.subject or parent_subject
        if violation.via_sender_pool and (violation.rule, subject.sid) in seen:
            continue
        seen.add((violation.rule, subject.sid))
        found.append(
            _finding(violation.rule, level, subject, names[subject.account_sid], violation.message)
        )
    for rule, subject, message in audit_checks(estate):
        level = levels.get(rule, ADVISORY)
        if level != DISABLED:
            found.append(_finding(rule, level, subject, names[subject.account_sid], message))
    order = {name: index for index, name in enumerate(RULES)}
    return sorted(
        found,
        key=lambda f: (f.level != MANDATORY, order[f.rule], f.account_name, f.object_name),
    )
