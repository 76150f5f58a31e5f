"""What a policy config file may say, checked before any resource is looked at.

The CLI validates each rule's settings against its `config_schema`, but lets through a key that
names no rule (a typo silently drops its settings), a setting the schema does not name, any
enforcement level for any rule (`disabled` switches a guardrail off), and, in a version-2
file, `exceptions` that exempt resources from rules. Two rules are mandatory everywhere. So:

- every entry point (`scripts/policy-check`, `make policy-check`, the pull-request workflow,
  and the fleet commands) runs `python -m twilio_guardrails.config_file FILE` first: one line
  per problem naming the file and the key, exit 2, before the CLI starts;
- the pack checks what the CLI does show it (rule names, settings, levels) again when the
  engine configures it (`guard.py`), so a bare `pulumi preview --policy-pack-config` cannot
  weaken the two rules either. It cannot see `exceptions` or ESC `environments`, which the
  engine applies on its own: only the entry points refuse those.

Only the standard library and the rules' own schemas: the pack's process has no jsonschema,
and the engine validates the settings' values against the schemas itself.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from twilio_guardrails.config import MANDATORY_EVERYWHERE

LEVELS: Final = ("advisory", "mandatory", "remediate", "disabled")
# What still blocks: a stack rule under `remediate` is reported as mandatory by the SDK.
BLOCKING: Final = frozenset({"mandatory", "remediate"})
ALL: Final = "all"  # the CLI's key for "every rule of the pack"
LEVEL_KEY: Final = "enforcementLevel"
# Keys the CLI reads itself and never shows the pack: each can weaken a rule from outside the
# file (ESC environments, v2 exceptions), so the entry points refuse them.
OUTSIDE_THE_PACK: Final = {
    "version": "a version-2 file can carry `exceptions` that exempt resources from rules",
    "environments": "ESC environments would bring settings this check cannot see",
    "exceptions": "exceptions exempt resources from rules",
    "policies": "the version-2 layout; keep one key per rule at the top level",
}


def problems(
    config: Any, rules: Mapping[str, Sequence[str]], *, from_engine: bool = False
) -> Iterator[tuple[str, str]]:
    """(key, what is wrong) for each problem of a config, in file order.

    `rules` maps each rule of the pack to the setting names its schema declares. `from_engine`:
    the config as the engine hands it to the pack (every rule present, defaults filled in,
    `all` already applied), where keys the CLI keeps to itself cannot appear.
    """
    if not isinstance(config, Mapping):
        yield "", "is not a JSON object keyed by rule name"
        return
    every_level = _level_of(config.get(ALL)) if ALL in config else None
    for key, entry in config.items():
        if key in OUTSIDE_THE_PACK and not from_engine:
            yield key, f"is not allowed here: {OUTSIDE_THE_PACK[key]}"
            continue
        if key == ALL:
            level = _level_of(entry)
            if level not in LEVELS:
                yield key, f"sets {_shown(level)}, not one of {', '.join(LEVELS)}"
            continue
        if key not in rules:
            yield key, _unknown_rule(key, rules)
            continue
        yield from _entry_problems(key, entry, rules[key])
    for name in sorted(MANDATORY_EVERYWHERE & set(rules)):
        entry = config.get(name)
        if _level_of(entry) is not None:
            key = f"{name}.{LEVEL_KEY}" if isinstance(entry, Mapping) else name
            effective = _level_of(entry)
        elif every_level is not None:
            key, effective = ALL, every_level
        else:
            continue  # the rule's own level: mandatory
        if effective in LEVELS and effective not in BLOCKING:
            yield (
                key,
                f"sets {effective!r}, but {name} is mandatory in every stack and cannot be "
                "weakened by config: remove the setting or make it 'mandatory'",
            )


def _entry_problems(name: str, entry: Any, settings: Sequence[str]) -> Iterator[tuple[str, str]]:
    if isinstance(entry, str):
        if entry not in LEVELS:
            yield name, f"sets {entry!r}, not one of {', '.join(LEVELS)}"
        return
    if not isinstance(entry, Mapping):
        yield name, "is neither an enforcement level nor an object of settings"
        return
    level = entry.get(LEVEL_KEY)
    if LEVEL_KEY in entry and level not in LEVELS:
        yield f"{name}.{LEVEL_KEY}", f"is {_shown(level)}, not one of {', '.join(LEVELS)}"
    for setting in entry:
        if setting != LEVEL_KEY and setting not in settings:
            close = difflib.get_close_matches(setting, settings, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(settings) if settings else "none"
            yield (
                f"{name}.{setting}",
                f"is not a setting of {name}{hint}; its settings: {known}",
            )


def _unknown_rule(key: str, rules: Mapping[str, Sequence[str]]) -> str:
    close = difflib.get_close_matches(key, list(rules), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"names no rule of this pack: {hint}its rules are {', '.join(rules)}"


def _level_of(entry: Any) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(LEVEL_KEY)
    return entry


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value)


def pack_rules() -> dict[str, list[str]]:
    """Each rule of the pack and the settings its schema declares."""
    from twilio_guardrails import RULES

    return {
        rule.name: list(rule.config_schema.properties) if rule.config_schema else []
        for rule in RULES
    }


def check_file(path: Path) -> list[str]:
    """One line per problem, `FILE: key: what is wrong`; empty when the file is fine."""
    try:
        config = json.loads(path.read_text())
    except OSError as error:
        return [f"{path}: cannot be read ({error.strerror})"]
    except json.JSONDecodeError as error:
        return [f"{path}: line {error.lineno}: not valid JSON ({error.msg})"]
    rules = pack_rules()
    lines = [
        f"{path}: {key}: {message}" if key else f"{path}: {message}"
        for key, message in problems(config, rules)
    ]
    if not lines:
        lines = _schema_problems(path, config)
    return lines


def _schema_problems(path: Path, config: Mapping[str, Any]) -> list[str]:
    """Values against each rule's schema, as the CLI will check them (when jsonschema is
    installed: it is in the project's requirements, not in the pack's)."""
    try:
        import jsonschema
    except ImportError:
        return []
    from twilio_guardrails import RULES

    lines = []
    for rule in RULES:
        entry = config.get(rule.name)
        if not isinstance(entry, Mapping) or rule.config_schema is None:
            continue
        for name, spec in rule.config_schema.properties.items():
            if name not in entry:
                continue
            try:
                jsonschema.validate(entry[name], spec)
            except jsonschema.ValidationError as error:
                lines.append(f"{path}: {rule.name}.{name}: {error.message}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) != 1:
        print("usage: python -m twilio_guardrails.config_file POLICY_CONFIG.json", file=sys.stderr)
        return 2
    lines = check_file(Path(arguments[0]))
    for line in lines:
        print(line, file=sys.stderr)
    return 2 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
