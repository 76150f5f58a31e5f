"""Where `estate` sits: beside the collector, on the one Twilio client package and the pack's
rule code; never components, architecture, the Pulumi SDK, the collector or the emulator."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ESTATE = Path(__file__).resolve().parents[2] / "estate"
ALLOWED_PROJECT = {
    "estate",
    "twilio_access.client",
    "twilio_access.credentials",
    "twilio_access.transport",
    "twilio_guardrails",
}
FORBIDDEN = ("components", "architecture", "pulumi", "collector", "emulator", "bench", "scripts")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_estate_imports_only_what_its_layer_allows() -> None:
    problems = []
    for path in sorted(ESTATE.glob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in {"twilio", "pulumi_policy"}:
                continue
            allowed = any(module == a or module.startswith(a + ".") for a in ALLOWED_PROJECT)
            if not allowed or top in FORBIDDEN:
                problems.append(f"{path.name} imports {module}")
    assert problems == []


def test_nothing_imports_estate_but_its_tests() -> None:
    root = ESTATE.parent
    importers = []
    for folder in ("providers", "components", "architecture", "policies", "collector", "emulator"):
        for path in (root / folder).rglob("*.py"):
            if any(m == "estate" or m.startswith("estate.") for m in imported_modules(path)):
                importers.append(str(path.relative_to(root)))
    assert importers == []
