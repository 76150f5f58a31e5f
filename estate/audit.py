"""The audit: read the account, judge it with the pack's rules and the audit's own checks."""

from __future__ import annotations

from estate.config import AuditConfig, load_config
from estate.findings import Finding, findings_of
from estate.model import Estate
from estate.reader import ReadOptions, read_estate
from estate.rulebook import judge, pack_rules
from twilio_access.credentials import ParentCredentials


def judge_estate(estate: Estate, config: AuditConfig | None = None) -> list[Finding]:
    config = config or load_config()
    violations = judge(estate, config.pack_config([rule.name for rule in pack_rules()]))
    return findings_of(estate, violations, config.levels)


def audit(
    credentials: ParentCredentials,
    options: ReadOptions | None = None,
    config: AuditConfig | None = None,
) -> tuple[Estate, list[Finding]]:
    estate = read_estate(credentials, options)
    return estate, judge_estate(estate, config)
