"""The Go wrapper modules that setup builds (tools/pulumi-cli, tools/actionlint) build cold.

A wrapper whose `go` line is older than a dependency's, or whose go.sum misses a checksum,
builds on a machine that already has the binary cached and fails on every fresh one. Go's
read-only module mode refuses such a module while loading the build graph, so `go build -n`
(which plans the build and compiles nothing) catches it in seconds. The module cache is the
one setup fills; on a machine that uses an installed Pulumi it is filled here on first use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.pulumi_cli import REPO_ROOT

WRAPPERS = {
    "pulumi-cli": "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
    "actionlint": "github.com/rhysd/actionlint/cmd/actionlint",
}


def go_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("TLZ_CACHE_DIR") or Path(base) / "twilio-landing-zone") / "go"


def plan_build(module_dir: Path, tool: str) -> subprocess.CompletedProcess[str]:
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is not installed; the wrapper modules cannot be checked", pytrace=False)
    cache = go_cache()
    env = {
        **os.environ,
        "GOFLAGS": "-mod=readonly -modcacherw",
        "GOMODCACHE": str(cache / "mod"),
        "GOCACHE": str(cache / "build"),
        # The machine's Go must do: a toolchain switch would hide a `go` line it cannot meet.
        "GOTOOLCHAIN": "local",
    }
    return subprocess.run(
        [go, "build", "-n", tool],
        cwd=module_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_the_committed_wrapper_module_builds_cold(wrapper: str) -> None:
    result = plan_build(REPO_ROOT / "tools" / wrapper, WRAPPERS[wrapper])
    assert result.returncode == 0, (
        f"tools/{wrapper} would not build on a fresh machine:\n{result.stderr[-2000:]}"
    )


def test_a_wrapper_older_than_its_dependencies_is_caught(tmp_path: Path) -> None:
    # The `go` line that once broke every cold build: Pulumi v3.274.1 declares go 1.26.6.
    stale = tmp_path / "pulumi-cli"
    shutil.copytree(REPO_ROOT / "tools" / "pulumi-cli", stale)
    go_mod = stale / "go.mod"
    lines = go_mod.read_text().splitlines()
    go_mod.write_text(
        "\n".join("go 1.25.11" if line.startswith("go ") else line for line in lines) + "\n"
    )
    result = plan_build(stale, WRAPPERS["pulumi-cli"])
    assert result.returncode != 0
    assert "updates to go.mod needed" in result.stderr
