"""`python -m collector check`: delivery-rate thresholds for cron or CI.

    python -m collector check --min-delivery-rate 95 --window 1h [--by tenant|use_case]

Exits 1 and names every group (tenant, use case, subaccount or service) whose delivery rate
over the window is below its threshold, 0 when none is, 2 when the input is wrong. The rate is
delivered / (delivered + undelivered + failed) over the messages first seen in the window, as
in the reports; groups with fewer than `min_messages` settled messages are not judged (one
failure out of two is noise, not an outage).

Thresholds may come from a YAML or JSON file (`--config`); options given on the command line
win over it:

    window: 1h
    by: tenant
    min_delivery_rate: 95      # percent
    min_messages: 20
    thresholds:                # per group key (tenant key, use case, SID): its own minimum
      bayside-dental: 90
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Engine

from collector.names import NameMap
from collector.reports import ReportFilter, ReportRow, build_report, cell

CheckGrouping = Literal["tenant", "use_case", "account", "service"]
CHECK_GROUPINGS: tuple[CheckGrouping, ...] = ("tenant", "use_case", "account", "service")
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class CheckError(ValueError):
    """Bad options or a bad config file: one line naming the field."""


def parse_window(text: str) -> float:
    """`90s`, `15m`, `1h`, `7d` -> seconds."""
    match = _WINDOW.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a window like 90s, 15m, 1h or 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class CheckConfig(BaseModel):
    """What to check; every field may come from the file or the command line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: str = "1h"
    by: CheckGrouping = "tenant"
    min_delivery_rate: float = Field(default=95.0, ge=0, le=100)
    min_messages: int = Field(default=1, ge=1)
    thresholds: dict[str, float] = Field(default_factory=dict)

    @field_validator("window")
    @classmethod
    def window_is_a_duration(cls, value: str) -> str:
        parse_window(value)
        return value

    @field_validator("thresholds")
    @classmethod
    def thresholds_are_percentages(cls, value: dict[str, float]) -> dict[str, float]:
        for key, rate in value.items():
            if not 0 <= rate <= 100:
                raise ValueError(f"{key}: {rate} is not a percentage between 0 and 100")
        return value

    @property
    def window_seconds(self) -> float:
        return parse_window(self.window)


def load_check_config(path: Path | None, overrides: dict[str, object]) -> CheckConfig:
    data: dict[str, object] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise CheckError(f"{path}: not a readable YAML or JSON file: {error}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise CheckError(f"{path}: expected a mapping of settings")
        data.update(loaded or {})
    data.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return CheckConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "config"
        origin = f"{path}: " if path is not None and where in data else ""
        raise CheckError(f"{origin}{where}: {first['msg']}") from None


@dataclass(frozen=True)
class Offender:
    row: ReportRow
    threshold: float

    @property
    def settled(self) -> int:
        return self.row.delivered + self.row.undelivered + self.row.failed


@dataclass(frozen=True)
class CheckResult:
    config: CheckConfig
    judged: list[ReportRow]
    offenders: list[Offender]

    @property
    def ok(self) -> bool:
        return not self.offenders


def run_check(
    engine: Engine, config: CheckConfig, names: NameMap, now: float | None = None
) -> CheckResult:
    now = time.time() if now is None else now
    since_us = int((now - config.window_seconds) * 1e6)
    report = build_report(engine, config.by, ReportFilter(since_us=since_us), None, names)
    judged, offenders = [], []
    for row in report.rows:
        settled = row.delivered + row.undelivered + row.failed
        if row.delivery_rate is None or settled < config.min_messages:
            continue
        judged.append(row)
        threshold = config.thresholds.get(row.key, config.min_delivery_rate)
        if row.delivery_rate * 100 < threshold:
            offenders.append(Offender(row, threshold))
    return CheckResult(config, judged, offenders)


def _who(row: ReportRow, by: str) -> str:
    label = row.label
    name = label.display_name or label.name
    if by in ("account", "service"):
        readable = " / ".join(part for part in (label.tenant, label.use_case) if part)
        readable = readable or name or ""
        return f"{row.key} ({readable})" if readable else row.key
    return f"{row.key} ({name})" if name and name != row.key else row.key


def render_text(result: CheckResult) -> str:
    config = result.config
    lines = []
    for offender in result.offenders:
        row = offender.row
        errors = cell(row, "top_errors")
        lines.append(
            f"BELOW {config.by} {_who(row, config.by)}: {cell(row, 'delivery_rate')} delivered"
            f" < {offender.threshold:g}% over {config.window} ({row.delivered} of"
            f" {offender.settled} settled; undelivered {row.undelivered}, failed {row.failed};"
            f" top errors {errors})"
        )
    verdict = (
        f"{len(result.offenders)} of {len(result.judged)} {config.by} groups below threshold"
        if result.offenders
        else f"all {len(result.judged)} {config.by} groups at or above threshold"
    )
    lines.append(
        f"{verdict} (min {config.min_delivery_rate:g}%, window {config.window},"
        f" at least {config.min_messages} settled messages to be judged)"
    )
    return "\n".join(lines) + "\n"


def render_json(result: CheckResult) -> str:
    return (
        json.dumps(
            {
                "ok": result.ok,
                "config": result.config.model_dump(),
                "judged": len(result.judged),
                "offenders": [
                    {
                        "key": o.row.key,
                        "tenant": o.row.label.tenant,
                        "display_name": o.row.label.display_name,
                        "use_case": o.row.label.use_case,
                        "delivery_rate": o.row.delivery_rate,
                        "threshold": o.threshold / 100,
                        "delivered": o.row.delivered,
                        "undelivered": o.row.undelivered,
                        "failed": o.row.failed,
                        "top_errors": [{"code": c, "count": n} for c, n in o.row.top_errors],
                    }
                    for o in result.offenders
                ],
            },
            indent=2,
        )
        + "\n"
    )
