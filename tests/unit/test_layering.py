"""The rooms of the house and the doors between them: every import of every module (including
imports inside functions, and `importlib.import_module` / `__import__` / `runpy.run_module`
of a constant name) must follow an edge of the intended graph below. README.md ("Layout")
draws the same graph; a new package says here where it sits.

The policy pack's own no-import test (tests/policies/test_pack.py) and estate's
(tests/estate/test_layering.py) are special cases of this one.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Unit -> the project units it may import directly. A unit is a top-level package (the
# policy pack's rule package `twilio_guardrails`, under policies/, is one of its own).
ALLOWED: dict[str, frozenset[str]] = {
    # Leaves: pure tag format, and the one package that talks to Twilio.
    "identity_tags": frozenset(),
    "twilio_access": frozenset(),
    # The program: stack file -> architecture -> components -> providers -> twilio_access.
    "architecture": frozenset({"identity_tags"}),
    "providers": frozenset({"twilio_access", "identity_tags"}),
    "components": frozenset({"architecture", "providers", "twilio_access", "identity_tags"}),
    "__main__": frozenset({"architecture", "components"}),
    # The pack reads resources by type token; it imports nothing of the program.
    "twilio_guardrails": frozenset(),
    "policies": frozenset({"twilio_guardrails"}),
    # A local Twilio, reached over HTTP only: it imports nothing of the product.
    "emulator": frozenset(),
    # Beside the program, on the Twilio package (estate also on the pack's rule code).
    "collector": frozenset({"twilio_access"}),
    "estate": frozenset({"twilio_access", "twilio_guardrails"}),
    "scripts": frozenset({"twilio_access"}),
    # Run by the engine as standalone scripts (provider host, language host).
    "tools": frozenset(),
    # Runs the emulator, the collector and program copies as processes, for tests and bench.
    "devkit": frozenset({"twilio_access"}),
    # The fleet: groups of stacks through the Automation API; it validates stack files and
    # policy configs itself (architecture, the pack's config reader) before calling the CLI.
    "fleet": frozenset({"architecture", "twilio_guardrails"}),
    # Benchmarks: what they measure, and devkit to run it; never tests, never the emulator's
    # insides (they start it as a process, like the tests).
    "bench": frozenset(
        {"architecture", "collector", "devkit", "fleet", "identity_tags", "twilio_access"}
    ),
}
# Tests may import anything of the project.
UNRESTRICTED = frozenset({"tests"})
PROJECT_UNITS = frozenset(ALLOWED) | UNRESTRICTED

# Third-party packages a unit must not import, whatever the graph says.
FORBIDDEN_LIBRARIES: dict[str, frozenset[str]] = {
    "identity_tags": frozenset({"pulumi", "pulumi_policy", "twilio", "pydantic", "requests"}),
    "architecture": frozenset({"pulumi", "pulumi_policy", "twilio", "requests"}),
    "twilio_access": frozenset({"pulumi", "pulumi_policy", "pydantic"}),
    "estate": frozenset({"pulumi"}),
    "emulator": frozenset({"pulumi", "pulumi_policy"}),
    "collector": frozenset({"pulumi", "pulumi_policy"}),
}

SKIPPED_DIRS = frozenset({".venv", ".bin", ".state", ".run", ".git", "node_modules"})
_DYNAMIC_IMPORTERS = frozenset({"import_module", "__import__", "run_module"})


def unit_of(path: Path) -> str:
    relative = path.relative_to(REPO_ROOT)
    if len(relative.parts) == 1:
        return relative.stem
    if relative.parts[:2] == ("policies", "twilio_guardrails"):
        return "twilio_guardrails"
    return relative.parts[0]


def project_modules() -> Iterator[Path]:
    for path in sorted(REPO_ROOT.rglob("*.py")):
        relative = path.relative_to(REPO_ROOT)
        if not SKIPPED_DIRS & set(relative.parts[:-1]):
            yield path


def _call_name(node: ast.Call) -> str | None:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    if isinstance(function, ast.Name):
        return function.id
    return None


def imported_modules(source: str) -> Iterator[str]:
    """Every absolute module name the source imports, anywhere in it."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif (
            isinstance(node, ast.Call)
            and _call_name(node) in _DYNAMIC_IMPORTERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def crossing_imports(path: Path) -> list[str]:
    unit = unit_of(path)
    if unit in UNRESTRICTED:
        return []
    relative = path.relative_to(REPO_ROOT)
    if unit not in ALLOWED:
        return [f"{relative}: the unit {unit!r} is not in the layering graph; add it"]
    problems = []
    for module in sorted(set(imported_modules(path.read_text("utf-8")))):
        top = module.split(".")[0]
        if top == unit:
            continue
        if top in PROJECT_UNITS and top not in ALLOWED[unit]:
            problems.append(f"{relative} imports {module}: {unit} -> {top} is not in the graph")
        if top in FORBIDDEN_LIBRARIES.get(unit, frozenset()):
            problems.append(f"{relative} imports {module}: {unit} must not use {top}")
    return problems


def test_every_import_follows_the_graph() -> None:
    problems = [problem for path in project_modules() for problem in crossing_imports(path)]
    assert problems == []


def test_the_graph_has_no_cycle() -> None:
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(unit: str, trail: tuple[str, ...]) -> None:
        if unit in done:
            return
        assert unit not in visiting, f"cycle: {' -> '.join((*trail, unit))}"
        visiting.add(unit)
        for target in ALLOWED[unit]:
            visit(target, (*trail, unit))
        visiting.discard(unit)
        done.add(unit)

    for unit in ALLOWED:
        visit(unit, ())


def test_every_top_level_package_has_a_place_in_the_graph() -> None:
    packages = {
        path.parent.name
        for path in REPO_ROOT.glob("*/__init__.py")
        if path.parent.name not in SKIPPED_DIRS
    }
    assert packages - PROJECT_UNITS == set()


@pytest.mark.parametrize(
    ("unit", "source", "crossing"),
    [
        ("providers", "from architecture.planner import Plan", True),
        ("providers", "def f():\n    from emulator.defaults import DEV_ACCOUNT_SID", True),
        ("collector", "import importlib\nimportlib.import_module('providers.base')", True),
        ("bench", "from tests.support.waiting import wait_until", True),
        ("emulator", "from twilio_access.client import build_client", True),
        ("twilio_access", "import pulumi", True),
        ("architecture", "from pulumi import Output", True),
        ("components", "from providers.subaccount import Subaccount", False),
        ("collector", "from twilio_access.credentials import TwilioSession", False),
    ],
)
def test_the_check_sees_each_kind_of_crossing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unit: str, source: str, crossing: bool
) -> None:
    # The check runs on a throwaway module placed as if it lived in `unit`.
    monkeypatch.setattr(f"{__name__}.REPO_ROOT", tmp_path)
    module = tmp_path / unit / "probe.py"
    module.parent.mkdir()
    module.write_text(source + "\n")
    assert bool(crossing_imports(module)) is crossing


def _readme_layout() -> str:
    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    return readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]


def _units_named(text: str) -> set[str]:
    return {unit for unit in PROJECT_UNITS if re.search(rf"(?<![\w/]){re.escape(unit)}\b", text)}


def test_the_readme_draws_this_graph() -> None:
    """README.md's layout section draws the graph above: it names every unit, its table lists
    every top-level package, and every edge it writes as `a ──► b, c` is one the graph allows."""
    layout = _readme_layout()
    drawing = layout.split("```", 2)[1]
    assert set(ALLOWED) - _units_named(drawing) == set()
    packages = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")} - SKIPPED_DIRS
    table = layout.split("```", 1)[0]
    assert {p for p in packages if f"`{p}/`" not in table} == set()
    drawn = set()
    for line in drawing.splitlines():
        segments = [re.sub(r"\([^)]*\)", "", part) for part in line.split("──►")]
        for left, right in itertools.pairwise(segments):
            drawn |= {(a, b) for a in _units_named(left) for b in _units_named(right)}
    assert drawn, "no `a ──► b` edge found in the README's drawing"
    not_allowed = {(a, b) for a, b in drawn if a not in UNRESTRICTED and b not in ALLOWED[a]}
    assert not_allowed == set()
