"""scripts/install-pulumi on a copy of the checkout: an installed Pulumi is preferred when new
enough, the cached build is linked in seconds, and a missing Go says so in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.pulumi_cli import REPO_ROOT

PINNED = "v3.274.1"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("TLZ_CACHE_DIR") or Path(base) / "twilio-landing-zone")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "scripts" / "install-pulumi", root / "scripts")
    shutil.copytree(REPO_ROOT / "tools" / "language_host", root / "tools" / "language_host")
    shutil.copytree(REPO_ROOT / "tools" / "pulumi-cli", root / "tools" / "pulumi-cli")
    return root


def install(checkout: Path, path: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": str(Path.home()), "TLZ_CACHE_DIR": str(cache)}
    return subprocess.run(
        [str(checkout / "scripts" / "install-pulumi")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def fake_pulumi(directory: Path, version: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "pulumi").write_text(f"#!/bin/sh\necho {version}\n")
    (directory / "pulumi-language-python").write_text("#!/bin/sh\n")
    (directory / "pulumi-language-python-exec").write_text("")
    for tool in ("pulumi", "pulumi-language-python"):
        (directory / tool).chmod(0o755)
    return directory


def test_the_cached_build_is_linked_in_seconds(checkout: Path) -> None:
    started = time.monotonic()
    result = install(checkout, "/usr/bin:/bin", default_cache())
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    bin_dir = checkout / ".bin"
    version = subprocess.run([bin_dir / "pulumi", "version"], capture_output=True, text=True)
    assert version.stdout.strip() == PINNED
    # Hard links or copies, never symlinks: the CLI finds its plugins next to its real path.
    for tool in ("pulumi", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        assert not (bin_dir / tool).is_symlink()
    host = (bin_dir / "pulumi-language-python").read_text()
    assert host == (REPO_ROOT / "tools" / "language_host" / "pulumi-language-python").read_text()


def test_an_installed_pulumi_new_enough_is_used_as_it_is(checkout: Path, tmp_path: Path) -> None:
    official = fake_pulumi(tmp_path / "official", "v3.280.0")
    result = install(checkout, f"{official}:/usr/bin:/bin", tmp_path / "empty-cache")
    assert result.returncode == 0, result.stderr
    assert (checkout / ".bin" / "pulumi").resolve() == (official / "pulumi").resolve()
    assert "using the installed Pulumi" in result.stderr


def test_an_older_installed_pulumi_is_not_used(checkout: Path, tmp_path: Path) -> None:
    old = fake_pulumi(tmp_path / "old", "v3.200.0")
    result = install(checkout, f"{old}:/usr/bin:/bin", default_cache())
    assert result.returncode == 0, result.stderr
    assert not (checkout / ".bin" / "pulumi").is_symlink()


def test_missing_go_is_one_clear_line_and_a_failure(checkout: Path, tmp_path: Path) -> None:
    result = install(checkout, "/usr/bin:/bin", tmp_path / "empty-cache")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Go is not installed" in lines[0] and "make setup" in lines[0]
