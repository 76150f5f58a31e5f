"""The plan as a text tree: accounts -> keys -> services -> senders (ASCII, so any terminal)."""

from __future__ import annotations

from architecture.planner import (
    Plan,
    PlannedAccount,
    PlannedNumber,
    PlannedService,
)


def render_plan(plan: Plan) -> str:
    counts = plan.counts
    lines = [
        f"{plan.project}/{plan.stack}: {plan.style} style, "
        f"environments {', '.join(plan.environments)}",
        f"collector: {plan.collector_url or '(not set)'}",
        "",
    ]
    for account in plan.accounts:
        lines += _account_lines(account)
    totals = [
        counted(counts.accounts, "account"),
        counted(counts.api_keys, "api key"),
        counted(counts.services, "service"),
        counted(counts.sender_pools, "sender pool"),
        counted(counts.phone_numbers, "phone number"),
        counted(counts.short_codes, "short code"),
        counted(counts.alpha_senders, "alpha sender"),
    ]
    lines.append(f"totals: {', '.join(totals)} ({counted(counts.resources, 'resource')})")
    return "\n".join(lines)


def _account_lines(account: PlannedAccount) -> list[str]:
    flags = [account.environment, account.role.replace("_", " ")]
    if account.protect:
        flags.append("protected")
    lines = [
        f"account {account.logical_name}  [{', '.join(flags)}]",
        f"  friendly name: {account.friendly_name}",
    ]
    children: list[list[str]] = []
    for key in account.api_keys:
        detail = (
            f"restricted: {', '.join(key.permissions)}" if key.kind == "restricted" else "standard"
        )
        if key.rotation:
            detail += f"; rotation {key.rotation}"
        children.append([f"key {key.logical_name}  ({detail})"])
    for service in account.services:
        children.append(_service_lines(service))
    lines += _branches(children, indent="  ")
    lines.append("")
    return lines


def _service_lines(service: PlannedService) -> list[str]:
    callback = service.status_callback or "(none)"
    if service.status_callback_is_collector:
        callback += " (collector)"
    lines = [
        f"service {service.logical_name}  ({service.use_case})",
        f"friendly name: {service.friendly_name}",
        f"status callback: {callback}",
    ]
    if service.inbound_request_url:
        lines.append(f"inbound: {service.inbound_method} {service.inbound_request_url}")
    if service.fallback_url:
        lines.append(f"fallback: {service.fallback_method} {service.fallback_url}")
    lines.append(
        f"settings: validity {service.validity_period}s, sticky sender "
        f"{_on(service.sticky_sender)}, area code geomatch {_on(service.area_code_geomatch)}, "
        f"smart encoding {_on(service.smart_encoding)}"
    )
    pool = service.pool
    senders = [[_number_line(number)] for number in service.numbers]
    senders += [[f"short code {sid}"] for sid in pool.short_codes]
    senders += [[f"alpha sender {alpha!r}"] for alpha in pool.alpha_senders]
    lines.append(f"pool {pool.logical_name}  ({counted(pool.sender_count, 'sender')})")
    lines += _branches(senders, indent="")
    return lines


def _number_line(number: PlannedNumber) -> str:
    if number.search is not None:
        search = number.search
        what = f"search {search.country}"
        if search.area_code:
            what += f" area code {search.area_code}"
        if search.contains:
            what += f" containing {search.contains}"
    else:
        what = f"{number.phone_number}"
    extras = []
    if number.release_on_delete:
        extras.append("released on delete")
    if number.protect:
        extras.append("protected")
    suffix = f", {', '.join(extras)}" if extras else ""
    return f"number {number.logical_name}  ({what}{suffix})"


def _branches(children: list[list[str]], indent: str) -> list[str]:
    """Draw each child block as a branch: first line on the branch, the rest beneath it."""
    lines: list[str] = []
    for position, block in enumerate(children):
        last = position == len(children) - 1
        lines.append(f"{indent}{'`-- ' if last else '|-- '}{block[0]}")
        lines += [f"{indent}{'    ' if last else '|   '}{line}" for line in block[1:]]
    return lines


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _on(flag: bool) -> str:
    return "on" if flag else "off"
