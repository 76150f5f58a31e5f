"""A copy of the Pulumi program in a scratch directory, for tests and benchmarks: its packages,
its stack files, and a `Pulumi.yaml` that points at this checkout's virtualenv and provider
host."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN_DIR = REPO_ROOT / ".bin"
VENV_DIR = REPO_ROOT / ".venv"


# What the program and its providers import, copied beside a test's copy of the program.
PROGRAM_PACKAGES = ("architecture", "components", "providers", "twilio_access", "identity_tags")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


PROVIDER_HOST_DIR = REPO_ROOT / "tools" / "provider_host"


def write_pulumi_yaml(project_dir: Path, name: str = "twilio-landing-zone") -> None:
    """The repo's Pulumi.yaml names `.venv` and the provider host relative to the project; a
    copy elsewhere points at the checkout's instead."""
    (project_dir / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {VENV_DIR}\n"
        f"plugins:\n  providers:\n    - name: pulumi-python\n      path: {PROVIDER_HOST_DIR}\n"
    )


def copy_program(project_dir: Path, *, main: Path | None = None, stack_files: bool = True) -> Path:
    """A copy of the landing-zone program (or of another `__main__.py` that uses its
    packages) in `project_dir`, so a test may edit its stack files freely."""
    project_dir.mkdir(parents=True, exist_ok=True)
    for package in PROGRAM_PACKAGES:
        shutil.copytree(REPO_ROOT / package, project_dir / package, ignore=_IGNORED)
    shutil.copy2(main or REPO_ROOT / "__main__.py", project_dir / "__main__.py")
    if stack_files:
        for stack_file in REPO_ROOT.glob("Pulumi.*.yaml"):
            shutil.copy2(stack_file, project_dir / stack_file.name)
    write_pulumi_yaml(project_dir)
    return project_dir
