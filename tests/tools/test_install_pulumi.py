"""scripts/install-pulumi on a copy of the checkout: an installed Pulumi is preferred when new
enough, the cached build is linked in seconds, and a missing Go says so in one line.

Each test gives the script a PATH of its own making (the machine's tools without any `pulumi`
or `go`, plus what the test installs), so the tests hold the same on a machine that built the
engine from Go modules and on one with an official Pulumi installed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.pulumi_cli import REPO_ROOT

PINNED = "v3.274.1"


HIDDEN_TOOLS = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "go")


@pytest.fixture(scope="module")
def machine_tools(tmp_path_factory: pytest.TempPathFactory) -> str:
    """/usr/bin and /bin as a PATH entry, less any Pulumi or Go installed there."""
    tools = tmp_path_factory.mktemp("machine-tools")
    for directory in (Path("/usr/bin"), Path("/bin")):
        for tool in directory.iterdir():
            if tool.name not in HIDDEN_TOOLS and not (tools / tool.name).exists():
                (tools / tool.name).symlink_to(tool)
    return str(tools)


def cached_build(cache: Path, checkout: Path) -> Path:
    """A build in the cache where install-pulumi looks for it (keyed by the wrapper module)."""
    wrapper = checkout / "tools" / "pulumi-cli"
    key = hashlib.sha256(
        (wrapper / "go.mod").read_bytes() + (wrapper / "go.sum").read_bytes()
    ).hexdigest()[:12]
    build = cache / f"pulumi-{PINNED}-{key}"
    build.mkdir(parents=True)
    (build / "pulumi").write_text(f"#!/bin/sh\necho {PINNED}\n")
    (build / "pulumi").chmod(0o755)
    for tool in ("pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        (build / tool).write_text("")
        (build / tool).chmod(0o755)
    return build


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


def test_the_cached_build_is_linked_in_seconds(
    checkout: Path, tmp_path: Path, machine_tools: str
) -> None:
    cached_build(tmp_path / "cache", checkout)
    started = time.monotonic()
    result = install(checkout, machine_tools, tmp_path / "cache")
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


def test_an_installed_pulumi_new_enough_is_used_as_it_is(
    checkout: Path, tmp_path: Path, machine_tools: str
) -> None:
    official = fake_pulumi(tmp_path / "official", "v3.280.0")
    result = install(checkout, f"{official}:{machine_tools}", tmp_path / "empty-cache")
    assert result.returncode == 0, result.stderr
    assert (checkout / ".bin" / "pulumi").resolve() == (official / "pulumi").resolve()
    assert "using the installed Pulumi" in result.stderr


def test_an_older_installed_pulumi_is_not_used(
    checkout: Path, tmp_path: Path, machine_tools: str
) -> None:
    old = fake_pulumi(tmp_path / "old", "v3.200.0")
    cached_build(tmp_path / "cache", checkout)
    result = install(checkout, f"{old}:{machine_tools}", tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert not (checkout / ".bin" / "pulumi").is_symlink()


def test_missing_go_is_one_clear_line_and_a_failure(
    checkout: Path, tmp_path: Path, machine_tools: str
) -> None:
    result = install(checkout, machine_tools, tmp_path / "empty-cache")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Go is not installed" in lines[0] and "make setup" in lines[0]


def test_a_changed_wrapper_module_is_built_anew(
    checkout: Path, tmp_path: Path, machine_tools: str
) -> None:
    cached_build(tmp_path / "cache", checkout)
    go_mod = checkout / "tools" / "pulumi-cli" / "go.mod"
    go_mod.write_text(go_mod.read_text() + "\n// changed\n")
    # The older build is not reused: the script goes to build, and without Go it says so.
    result = install(checkout, machine_tools, tmp_path / "cache")
    assert result.returncode != 0
    assert "Go is not installed" in result.stderr
    assert not (checkout / ".bin" / "pulumi").exists()
