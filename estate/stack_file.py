"""Write what discovery found as `Pulumi.<stack>.yaml`: the architecture with its adopt map,
and, at the top, a comment block listing what the file leaves out and why."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from estate.discover import PROJECT, Discovery

# A mapping key written bare; anything else is written as a JSON string, which YAML reads
# back as the same text.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_:.-]*")


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
    body = "\n".join(_yaml_lines(document, 0)) + "\n"
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


def _yaml_lines(value: Any, indent: int) -> list[str]:
    """Block-style YAML of plain data (mappings, lists, text, numbers, booleans). Text is
    always quoted (JSON's double-quoted form is YAML's), so nothing reads back as another
    type (`+14155550100`, `on`, `0123`)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = key if _PLAIN_KEY.fullmatch(key) else json.dumps(key)
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{name}:")
                lines += _yaml_lines(item, indent + 2)
            else:
                lines.append(f"{pad}{name}: {_scalar(item)}")
    else:
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = _yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines += nested[1:]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False)


def write(path: Path, text: str, *, force: bool) -> None:
    if path.exists() and not force:
        raise StackFileExistsError(f"{path} exists; pass --force to overwrite it")
    path.write_text(text, encoding="utf-8")
