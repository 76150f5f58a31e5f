"""Where `fleet` sits: on the Automation API, the stack-file model (`architecture`), the pack's
config check and `scripts/resume_stack.py` (loaded by path); never `components`, `providers`,
the emulator or the collector, and nothing of the product imports it."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.estate.test_layering import imported_modules

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "fleet"
ALLOWED_PROJECT = ("fleet", "architecture", "twilio_guardrails", "pulumi.automation")
THIRD_PARTY = {"yaml"}


def test_fleet_imports_only_what_its_layer_allows() -> None:
    problems = []
    for path in sorted(FLEET.glob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in THIRD_PARTY:
                continue
            if not any(module == a or module.startswith(a + ".") for a in ALLOWED_PROJECT):
                problems.append(f"{path.name} imports {module}")
    assert problems == []


def test_nothing_of_the_product_imports_fleet() -> None:
    importers = []
    for folder in (
        "providers",
        "components",
        "architecture",
        "policies",
        "collector",
        "emulator",
        "estate",
    ):
        for path in (ROOT / folder).rglob("*.py"):
            if any(m == "fleet" or m.startswith("fleet.") for m in imported_modules(path)):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == []
