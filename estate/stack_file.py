"""Write what discovery found as `Pulumi.<stack>.yaml`: the architecture with its adopt map,
and, at the top, a comment block listing what the file leaves out and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from estate.discover import PROJECT, Discovery


class StackFileExistsError(Exception):
    """A stack file is there already: never overwritten without --force."""


def render(
    found: Discovery,
    tenants: list[dict[str, Any]],
    *,
    stack: str,
    source: str,
    group: str = "",
    estate_wide: bool = True,
) -> str:
    """The stack file's text. `estate_wide`: list what is left out of the parent and of
    inactive accounts here (one file of a split estate carries those)."""
    architecture = found.architecture(tenants)
    document = {"config": {f"{PROJECT}:architecture": architecture}}
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    lines = [
        f"# Discovered by `python -m estate discover --stack {stack}` from {source}.",
        "# Every object below exists in Twilio; its SID is under `adopt:`, so `pulumi up`",
        "# manages it as it is (no purchase, no new object) and changes only what you edit.",
        "# Tenant keys were derived from names: edit them now if you like, never after `up`.",
    ]
    if group:
        lines.append(f"# {group}")
    keys = {tenant["key"] for tenant in tenants}
    left_out = [
        item
        for item in found.left_out
        if item.where in keys or (estate_wide and item.where in ("parent", "estate"))
    ]
    if left_out:
        lines += [
            "#",
            "# Not declared here (left as it is in Twilio; `up` never touches it), and why:",
        ]
        lines += [f"#   - {item.line()}" for item in left_out]
    return "\n".join(lines) + "\n" + body


def write(path: Path, text: str, *, force: bool) -> None:
    if path.exists() and not force:
        raise StackFileExistsError(f"{path} exists; pass --force to overwrite it")
    path.write_text(text, encoding="utf-8")
