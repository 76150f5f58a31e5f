"""The audit's outputs: a table (default), JSON, and SARIF 2.1.0 for code-scanning UIs; the
summary line with counts by rule; the exit status a CI job gates on.

Nothing here prints a credential: findings carry names, SIDs and URLs only.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

from estate.findings import MANDATORY, RULES, Finding
from estate.model import Estate

FORMATS: Final = ("table", "json", "sarif")
FAIL_ON: Final = ("mandatory", "advisory")
SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME: Final = "twilio-landing-zone audit"
_WIDTH: Final = 100


def summary_line(findings: Sequence[Finding]) -> str:
    """`7 findings (2 mandatory, 5 advisory): no-sending-from-parent 2, ...`."""
    if not findings:
        return "0 findings: the account follows every rule the audit checks."
    levels = Counter(f.level for f in findings)
    by_rule = Counter(f.rule for f in findings)
    rules = ", ".join(f"{rule} {by_rule[rule]}" for rule in RULES if rule in by_rule)
    return (
        f"{len(findings)} findings ({levels[MANDATORY]} mandatory, "
        f"{len(findings) - levels[MANDATORY]} advisory): {rules}"
    )


def exit_status(findings: Sequence[Finding], fail_on: str) -> int:
    """1 when a finding at or above `fail_on` exists, else 0."""
    if fail_on == "advisory":
        return 1 if findings else 0
    return 1 if any(f.level == MANDATORY for f in findings) else 0


def _what_was_read(estate: Estate) -> dict[str, int]:
    accounts = estate.accounts
    return {
        "subaccounts": len(estate.subaccounts),
        "closed_subaccounts": sum(a.status == "closed" for a in estate.subaccounts),
        "messaging_services": sum(len(a.services) for a in accounts),
        "phone_numbers": sum(len(a.numbers) for a in accounts),
        "api_keys": sum(len(a.keys) for a in accounts),
        "parent_messages_last_days": estate.parent_traffic.messages,
        "requests": estate.requests,
    }


def render_table(estate: Estate, findings: Sequence[Finding]) -> str:
    read = _what_was_read(estate)
    lines = [
        f"Audit of {estate.parent.friendly_name} ({estate.parent.sid}): "
        f"{read['subaccounts']} subaccounts ({read['closed_subaccounts']} closed), "
        f"{read['messaging_services']} Messaging Services, {read['phone_numbers']} numbers, "
        f"{read['api_keys']} API keys; {read['parent_messages_last_days']} messages sent "
        f"from the parent in the last {estate.parent_traffic.days} days.",
        "",
    ]
    if findings:
        header = f"{'LEVEL':<10} {'RULE':<35} {'ACCOUNT':<28} OBJECT"
        lines += [header, "-" * len(header)]
    for finding in findings:
        account = _clip(finding.account_name or finding.account_sid, 28)
        lines.append(
            f"{finding.level:<10} {finding.rule:<35} {account:<28} "
            f"{finding.object_kind} '{finding.object_name}' {finding.object_sid}"
        )
        lines += _indented(finding.message)
    fired = [info for name, info in RULES.items() if any(f.rule == name for f in findings)]
    if fired:
        lines += ["", "Why each rule matters, and what to do:"]
    for info in fired:
        lines.append(f"  {info.name} ({info.source}): {info.title}")
        lines += _indented(f"why: {info.why}")
        lines += _indented(f"fix: {info.fix}")
    lines += ["", summary_line(findings)]
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _indented(text: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent="    ", subsequent_indent="      ")


def render_json(estate: Estate, findings: Sequence[Finding]) -> str:
    document = {
        "account": {"sid": estate.parent.sid, "friendly_name": estate.parent.friendly_name},
        "read": _what_was_read(estate),
        "parent_traffic": {
            "days": estate.parent_traffic.days,
            "messages": estate.parent_traffic.messages,
            "price": estate.parent_traffic.price,
            "source": "Usage Records sms-outbound (IncludeSubaccounts=false); senders from "
            "the message list",
            "by_sender": dict(estate.parent_traffic.by_sender),
        },
        "findings": [finding.as_dict() for finding in findings],
        "summary": {
            "line": summary_line(findings),
            "by_rule": dict(Counter(f.rule for f in findings)),
            "by_level": dict(Counter(f.level for f in findings)),
        },
    }
    return json.dumps(document, indent=2)


def render_sarif(estate: Estate, findings: Sequence[Finding]) -> str:
    """SARIF 2.1.0: one run, the rule catalogue as the driver's rules, one result per finding.

    The objects are Twilio's, not files: each result names it as a logical location
    (`<AccountSid>/<ObjectSid>`) and, for UIs that need a file, as the artifact
    `twilio/<AccountSid>/<ObjectKind>/<ObjectSid>`.
    """
    rule_ids = list(RULES)
    results: list[dict[str, Any]] = []
    for finding in findings:
        qualified = f"{finding.account_sid}/{finding.object_sid}"
        results.append(
            {
                "ruleId": finding.rule,
                "ruleIndex": rule_ids.index(finding.rule),
                "level": "error" if finding.level == MANDATORY else "warning",
                "message": {
                    "text": f"{finding.message} Fix: {finding.fix}",
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {
                                "uri": f"twilio/{finding.account_sid}/{finding.object_kind}/"
                                f"{finding.object_sid}"
                            }
                        },
                        "logicalLocations": [
                            {
                                "name": finding.object_name,
                                "fullyQualifiedName": qualified,
                                "kind": finding.object_kind,
                            }
                        ],
                    }
                ],
                "partialFingerprints": {"twilioObject/v1": f"{finding.rule}:{qualified}"},
                "properties": {
                    "level": finding.level,
                    "source": finding.source,
                    "account": finding.account_name,
                },
            }
        )
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "informationUri": "https://www.twilio.com/docs/messaging",
                        "rules": [
                            {
                                "id": info.name,
                                "name": info.name,
                                "shortDescription": {"text": info.title},
                                "fullDescription": {"text": info.why},
                                "help": {"text": info.fix},
                                "properties": {"source": info.source},
                            }
                            for info in RULES.values()
                        ],
                    }
                },
                "automationDetails": {"id": f"twilio-audit/{estate.parent.sid}/"},
                "results": results,
                "properties": {"summary": summary_line(findings)},
            }
        ],
    }
    return json.dumps(document, indent=2)


def render(estate: Estate, findings: Sequence[Finding], output_format: str) -> str:
    if output_format == "json":
        return render_json(estate, findings)
    if output_format == "sarif":
        return render_sarif(estate, findings)
    return render_table(estate, findings)
