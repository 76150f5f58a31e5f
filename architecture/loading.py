"""Stack config (a Pulumi.<stack>.yaml file, or the values Pulumi hands the program) -> settings.

Only the project namespace is ours: `twilio:*` keys are the provider's, `{secure: ...}` values
are secrets we never read here, and top-level keys other than `config` (Pulumi adds
`encryptionsalt:`, users may add `environment:`) are Pulumi's business.

Every reader of a stack file goes through `read_stack_yaml`, which follows the rules of the
YAML library Pulumi parses stack files with (Go's yaml.v3): a mapping that repeats a key is
refused with yaml.v3's own words, so what `python -m architecture validate` accepts is what
`pulumi up` accepts.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from architecture.errors import ArchitectureError, problems_from, show
from architecture.model import StackSettings
from architecture.rulebook import validate_tree

PROJECT = "twilio-landing-zone"
ARCHITECTURE_KEY = "architecture"
COLLECTOR_URL_KEY = "collectorUrl"
_OWN_KEYS = (ARCHITECTURE_KEY, COLLECTOR_URL_KEY)


class _RefusingDuplicateKeys:
    """Refuses what yaml.v3 refuses: a mapping key defined twice.

    yaml.v3 compares keys as written (node kind and raw text), before resolving their type:
    `1` and `"1"` are the same key to it, so they are here too."""

    duplicate_keys: list[str]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [
            (key.id, key.value if key.id == "scalar" else "", key.start_mark.line + 1)
            for key, _ in node.value
        ]
        # Pair by pair, in yaml.v3's order and words: `line %d: mapping key %#v already
        # defined at line %d`.
        for index, (kind, text, line) in enumerate(keys):
            for later_kind, later_text, later_line in keys[index + 1 :]:
                if (kind, text) == (later_kind, later_text):
                    self.duplicate_keys.append(
                        f"line {later_line}: mapping key {json.dumps(text)} already defined "
                        f"at line {line}"
                    )
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]  # a mixin: PyYAML's loaders define it


class StackYamlLoader(_RefusingDuplicateKeys, yaml.SafeLoader):
    """PyYAML's safe loader (pure Python: its error messages are the ones users see)."""


# The same loader on libyaml's parser, when PyYAML was built with it: 6 times faster on a
# 100-customer stack file, which the program reads at every run (the secrets guard) and the
# policy check validates first. Construction (types, duplicate keys) is the same Python code.
_LIBYAML_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastStackYamlLoader(_RefusingDuplicateKeys, _LIBYAML_SAFE_LOADER):
    pass


_FAST_LOADER: Final = _FastStackYamlLoader if getattr(yaml, "__with_libyaml__", False) else None


def read_stack_yaml(text: str, source: str | None = None) -> Any:
    """The document of a stack file, read with Pulumi's rules; ArchitectureError otherwise
    (one problem per duplicate key, as yaml.v3 lists them)."""
    if _FAST_LOADER is not None:
        fast = _FAST_LOADER(text)
        fast.duplicate_keys = []
        try:
            document = fast.get_single_data()
            if not fast.duplicate_keys:
                return document
        except yaml.YAMLError:
            pass  # reported below in the pure-Python parser's words
        finally:
            fast.dispose()
    loader = StackYamlLoader(text)
    loader.duplicate_keys = []
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ArchitectureError([f"not valid YAML{where}: {problem}"], source) from None
    finally:
        loader.dispose()
    if loader.duplicate_keys:
        raise ArchitectureError(
            [f"not valid YAML: {duplicate}" for duplicate in loader.duplicate_keys], source
        )
    return document


def read_stack_file(path: str | Path) -> Any:
    """Read a `Pulumi.<stack>.yaml` with Pulumi's rules (`read_stack_yaml`)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ArchitectureError([f"cannot read the stack file: {error.strerror}"], source) from None
    return read_stack_yaml(text, source)


def stack_name_of(path: str | Path) -> str:
    """`Pulumi.prod.yaml` -> `prod` (any other file name: its stem)."""
    name = Path(path).name
    for suffix in (".yaml", ".yml"):
        if name.startswith("Pulumi.") and name.endswith(suffix):
            return name[len("Pulumi.") : -len(suffix)]
    return Path(path).stem


def load_stack_config(
    path: str | Path, project: str = PROJECT, *, stack: str | None = None
) -> StackSettings:
    """Read and validate a `Pulumi.<stack>.yaml`; the stack name comes from the file name."""
    source = str(path)
    document = read_stack_file(path)
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ArchitectureError(
            [f"a stack file is a mapping with a 'config:' key, got {show(document)}"], source
        )
    config = document.get("config") or {}
    if not isinstance(config, Mapping):
        raise ArchitectureError([f"config: expected a mapping, got {show(config)}"], source)
    size = config_environment_size(config)
    if size > CONFIG_ENVIRONMENT_LIMIT:
        raise ArchitectureError([_too_large(config, size, project)], source)
    return load_config_values(
        config, stack=stack or stack_name_of(path), project=project, source=source
    )


# Pulumi hands the program its whole stack config in one environment variable (PULUMI_CONFIG,
# structured values as JSON text), and Linux caps one variable at 128 KiB (MAX_ARG_STRLEN): a
# larger config stops the program before it starts ("Argument list too long"). Measured: the
# benchmark's ISV group crosses it at about 165 customers.
CONFIG_ENVIRONMENT_LIMIT: Final = 131_072 - len("PULUMI_CONFIG=") - 1


def config_environment_size(config: Mapping[str, Any]) -> int:
    """Bytes of PULUMI_CONFIG for this stack config (secrets counted at their ciphertext)."""
    as_text = {
        str(key): value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
    }
    return len(json.dumps(as_text).encode())


def _too_large(config: Mapping[str, Any], size: int, project: str) -> str:
    architecture = _maybe_json(config.get(f"{project}:{ARCHITECTURE_KEY}"))
    tenants = architecture.get("tenants") if isinstance(architecture, Mapping) else None
    count = len(tenants) if isinstance(tenants, list) else 0
    fits = f" (about {CONFIG_ENVIRONMENT_LIMIT * count // size} of its {count} tenants fit)"
    return (
        f"config: {size:,} bytes as Pulumi passes it to the program (PULUMI_CONFIG), over the "
        f"{CONFIG_ENVIRONMENT_LIMIT:,} that Linux allows in one environment variable, so the "
        "program could not start: split the tenants across more stacks" + (fits if count else "")
    )


def load_config_values(
    values: Mapping[str, Any],
    *,
    stack: str,
    project: str = PROJECT,
    source: str | None = None,
    secret_keys: Collection[str] = (),
) -> StackSettings:
    """Validate namespaced config values (`{"<project>:architecture": ..., ...}`).

    Accepts a stack file's `config:` mapping or the engine's PULUMI_CONFIG, where structured
    values arrive as JSON text and secrets arrive decrypted: pass the engine's secret keys
    (PULUMI_CONFIG_SECRET_KEYS) so they are left out like `{secure: ...}` values are.
    """
    prefix = f"{project}:"
    own = {key[len(prefix) :]: value for key, value in values.items() if key.startswith(prefix)}
    problems: list[str] = []
    plain: dict[str, Any] = {}
    for key, value in own.items():
        if _is_secure(value) or f"{prefix}{key}" in secret_keys:
            if key in _OWN_KEYS:
                problems.append(f"{prefix}{key}: must be a plain value, not a secret")
            continue
        plain[key] = value
    if ARCHITECTURE_KEY not in own:
        problems.append(
            f"{prefix}{ARCHITECTURE_KEY}: is required; the stack declares no architecture"
            + _did_you_mean(ARCHITECTURE_KEY, own, prefix)
        )
    if problems:
        raise ArchitectureError(problems, source)
    architecture = _maybe_json(plain.pop(ARCHITECTURE_KEY))
    collector_url = plain.pop(COLLECTOR_URL_KEY, None)
    try:
        return load_architecture(
            architecture,
            stack=stack,
            collector_url=collector_url,
            project=project,
            settings=plain,
            source=source,
        )
    except ArchitectureError as error:
        problems = list(error.problems)
        unset = f"needs {prefix}{COLLECTOR_URL_KEY}, which this stack does not set"
        hint = _did_you_mean(COLLECTOR_URL_KEY, own, prefix)
        if hint and any(unset in problem for problem in problems):
            problems.append(f"{prefix}{COLLECTOR_URL_KEY}: is not set{hint}")
        raise ArchitectureError(problems, source) from None


def load_architecture(
    architecture: Any,
    *,
    stack: str,
    collector_url: str | None = None,
    project: str = PROJECT,
    settings: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> StackSettings:
    """Validate the architecture object as `pulumi.Config().require_object("architecture")`
    returns it, with the stack's `collectorUrl` (`config.get("collectorUrl")`)."""
    try:
        return validate_tree(
            StackSettings,
            {
                "project": project,
                "stack": stack,
                "architecture": architecture,
                "collector_url": collector_url,
                "settings": dict(settings or {}),
            },
        )
    except ValidationError as error:
        raise ArchitectureError(problems_from(error, StackSettings, project), source) from None


def _is_secure(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _did_you_mean(wanted: str, present: Mapping[str, Any], prefix: str) -> str:
    close = difflib.get_close_matches(wanted, [k for k in present if k != wanted], n=1, cutoff=0.7)
    return f" (found {prefix}{close[0]}: did you mean {prefix}{wanted}?)" if close else ""
