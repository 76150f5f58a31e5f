"""Turn validation failures into one readable line per problem: `<field path>: <rule>`."""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from architecture.rulebook import Loc

_PARENT_KEYS_MESSAGE = (
    "keys on the parent account are not allowed: the parent is never modelled as a tenant (it "
    "never sends); declare keys under a tenant's api_keys"
)
_PARENT_SERVICES_MESSAGE = (
    "Messaging Services on the parent account are not allowed: the parent never sends; "
    "declare each service under the services of the tenant whose subaccount sends with it"
)
_PARENT_MESSAGE = (
    "the parent account is not declared: it only owns the subaccounts, never sends and holds "
    "no keys; declare services and keys under a tenant (tenants[].services, tenants[].api_keys)"
)
_PARENT_FIELDS = {"api_keys": _PARENT_KEYS_MESSAGE, "services": _PARENT_SERVICES_MESSAGE}


class ArchitectureError(Exception):
    """A stack's declared architecture or settings are not valid; nothing was planned.

    `problems` holds one message per problem; `str()` is the multi-line report.
    """

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        self.source = source
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        where = f"{self.source}: " if self.source else ""
        lines = [f"{where}{count} {noun} in the stack's declared architecture:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def render_path(loc: Loc, project: str) -> str:
    """`("architecture", "tenants", 2, "use_case")` -> `tenants[2].use_case`.

    Paths inside the architecture are relative to it (that is what users edit); the other
    settings are named by their config key.
    """
    if not loc:
        return f"{project}:architecture"
    head, *rest = loc
    if head == "architecture":
        if not rest:
            return f"{project}:architecture"
        text = ""
    elif head == "collector_url":
        text = f"{project}:collectorUrl"
    else:
        text = str(head)
    for part in rest:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def problems_from(error: ValidationError, root: type[BaseModel], project: str) -> list[str]:
    return [
        f"{render_path(detail['loc'], project)}: {_describe(detail, root)}"
        for detail in error.errors(include_url=False)
    ]


def show(value: Any) -> str:
    """A value as the user wrote it (YAML spelling), kept short."""
    if isinstance(value, str):
        return repr(value)
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "null"
    return type(value).__name__


def _got(value: Any) -> str:
    text = f"got {show(value)} ({_kind(value)})"
    if isinstance(value, bool):
        # YAML 1.1 reads unquoted yes/no/on/off (and NO, Norway's code) as booleans.
        text += "; YAML reads unquoted yes/no/on/off/true/false as booleans, so quote it"
    elif isinstance(value, int | float):
        text += "; quote it"
    return text


_EXPECTED_TYPES = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "model_type": "a mapping of fields",
    "model_attributes_type": "a mapping of fields",
    "dict_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}


def _describe(detail: Any, root: type[BaseModel]) -> str:
    kind: str = detail["type"]
    ctx: dict[str, Any] = detail.get("ctx") or {}
    value = detail.get("input")
    loc: Loc = detail["loc"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return _unknown_field(loc, root, value)
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{show(value)} is not one of {', '.join(choices)}"
    if kind == "string_type" and "numbers" in loc and isinstance(value, int):
        # YAML reads an unquoted +14155550100 as the integer 14155550100.
        return f"expected text, got the number {value}; quote phone numbers: '+{value}'"
    if kind in _EXPECTED_TYPES:
        return f"expected {_EXPECTED_TYPES[kind]}, {_got(value)}"
    if kind == "greater_than_equal":
        return f"{show(value)} is below the minimum {ctx['ge']}"
    if kind == "less_than_equal":
        return f"{show(value)} is above the maximum {ctx['le']}"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"has {ctx.get('actual_length')} items; at most {ctx['max_length']} allowed"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"{show(value)} is longer than {ctx['max_length']} characters"
    message: str = detail["msg"]
    # Our own rules already phrase their message; pydantic's built-ins start with a capital.
    return message[:1].lower() + message[1:] if message[:1].isupper() else message


def _unknown_field(loc: Loc, root: type[BaseModel], value: Any = None) -> str:
    name = str(loc[-1])
    if loc[:1] == ("architecture",) and len(loc) == 2:
        if name in _PARENT_FIELDS:
            return _PARENT_FIELDS[name]
        if name == "parent":
            # Say what was declared under it: a service is not a key.
            fields = value if isinstance(value, dict) else {}
            declared = [field for field in _PARENT_FIELDS if field in fields]
            return "; ".join(_PARENT_FIELDS[field] for field in declared) or _PARENT_MESSAGE
    model = _model_at(root, loc[:-1])
    if model is None:
        return "unknown field"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?"
    return f"unknown field {name!r}; expected one of {', '.join(allowed)}"


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that validated the value found at `loc`."""
    current: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue  # a list position: same item model
        if current is None or part not in current.model_fields:
            return None
        current = _model_in(current.model_fields[part].annotation)
    return current


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin in (Annotated, Union, types.UnionType, tuple, list):
        for argument in get_args(annotation):
            found = _model_in(argument)
            if found is not None:
                return found
    return None
