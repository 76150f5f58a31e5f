"""The pack's shape: assembled by __main__ only, rules in importable modules, resources known
by the providers' own type tokens, nothing of the program imported."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pulumi.dynamic
import yaml
from pulumi_policy import StackValidationPolicy

import providers
import twilio_guardrails
from tests.support.pulumi_cli import REPO_ROOT
from twilio_guardrails import tokens
from twilio_guardrails.config import MANDATORY_EVERYWHERE
from twilio_guardrails.rules import Rule

PACK_DIR = REPO_ROOT / "policies"
PROGRAM_PACKAGES = {"providers", "components", "architecture", "emulator", "collector"}


def provider_tokens() -> dict[str, str]:
    """Class name -> type token of every dynamic Resource subclass in providers/."""
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(providers.__path__):
        module = importlib.import_module(f"providers.{info.name}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, pulumi.dynamic.Resource)
                and obj.__module__ == module.__name__
            ):
                found[obj.__name__] = f"pulumi-python:{obj._resource_type_name}"
    return found


def test_the_packs_tokens_are_the_providers_tokens() -> None:
    ours = provider_tokens()
    assert set(ours.values()) == set(tokens.ALL)
    assert ours == {tokens.kind_of(token): token for token in tokens.ALL}


def test_the_pack_imports_nothing_of_the_program() -> None:
    for path in sorted(PACK_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & PROGRAM_PACKAGES, f"{path.relative_to(REPO_ROOT)} imports {roots}"


def test_main_only_assembles_the_pack() -> None:
    # PolicyPack() serves gRPC and blocks, so __main__ holds nothing a test would want.
    tree = ast.parse((PACK_DIR / "__main__.py").read_text())
    body = [node for node in tree.body if not isinstance(node, ast.Import | ast.ImportFrom)]
    docstring, guard, call = body
    assert isinstance(guard, ast.Expr) and isinstance(guard.value, ast.Call)
    assert isinstance(guard.value.func, ast.Name) and guard.value.func.id == "hold_config"
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    assert isinstance(call.value.func, ast.Name) and call.value.func.id == "PolicyPack"
    keywords = {keyword.arg: keyword.value for keyword in call.value.keywords}
    assert isinstance(keywords["policies"], ast.Name) and keywords["policies"].id == "POLICIES"


def test_pulumi_policy_yaml() -> None:
    manifest = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"] == "python"
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(manifest["version"]))


def test_every_rule_is_in_the_pack_once_with_a_kebab_case_name() -> None:
    defined: list[Rule] = []
    for info in pkgutil.iter_modules(twilio_guardrails.__path__):
        module = importlib.import_module(f"twilio_guardrails.{info.name}")
        defined += [obj for obj in vars(module).values() if isinstance(obj, Rule)]
    assert {id(rule) for rule in defined} == {id(rule) for rule in twilio_guardrails.RULES}
    assert [p.name for p in twilio_guardrails.POLICIES] == [
        rule.name for rule in twilio_guardrails.RULES
    ]
    names = [policy.name for policy in twilio_guardrails.POLICIES]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)+", name) for name in names)
    assert set(names) == {
        "no-sending-from-parent",
        "one-messaging-service-per-use-case",
        "status-callback-required",
        "https-webhooks",
        "sender-pool-limits",
        "restricted-api-keys",
        "protect-irreversible",
        "isolated-environments",
    }
    assert set(names) >= MANDATORY_EVERYWHERE


def test_every_rule_is_a_stack_rule() -> None:
    # Each needs the graph: the account a resource lands in is traced through the property
    # dependencies that only a stack policy sees.
    assert all(isinstance(p, StackValidationPolicy) for p in twilio_guardrails.POLICIES)
    assert {p.enforcement_level.value for p in twilio_guardrails.POLICIES} == {"mandatory"}


def test_the_pack_directory_is_runnable_by_the_cli() -> None:
    # `python -m pulumi.policy` runs __main__.py with the pack directory as sys.path[0].
    assert (PACK_DIR / "twilio_guardrails" / "__init__.py").is_file()
    assert Path(twilio_guardrails.__file__).parent == PACK_DIR / "twilio_guardrails"
