"""tools/provider_host: the worker pool it swaps into Pulumi's own dynamic-provider host, held
to the SDK it was checked against, with the stock host as the fallback, and its effect proven
through the real CLI."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from concurrent import futures
from importlib.metadata import version
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.support.pulumi_cli import PROVIDER_HOST_DIR, REPO_ROOT, VENV_DIR, PulumiWorkspace
from tests.support.waiting import wait_until

PROJECT = Path(__file__).parent / "provider_host_project"
CREATES = 16


def load_host() -> ModuleType:
    path = PROVIDER_HOST_DIR / "provider_host.py"
    spec = importlib.util.spec_from_file_location("provider_host_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_installed_sdk_is_one_the_host_was_checked_against() -> None:
    host = load_host()
    assert version("pulumi") in host.CHECKED_SDK_VERSIONS, (
        "the pulumi SDK changed: re-check tools/provider_host/provider_host.py against "
        "pulumi/dynamic/__main__.py (grpc.server, add_ResourceProviderServicer_to_server), "
        "then update CHECKED_SDK_VERSIONS"
    )
    pin = re.search(r"^pulumi==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    assert pin and pin.group(1) in host.CHECKED_SDK_VERSIONS


def test_the_stock_host_still_calls_what_the_patches_replace() -> None:
    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    assert re.search(r"grpc\.server\(\s*futures\.ThreadPoolExecutor\(max_workers=4\)", source)
    assert "provider_pb2_grpc.add_ResourceProviderServicer_to_server(monitor, server)" in source


def test_an_unchecked_sdk_keeps_the_stock_host_and_says_so(capsys) -> None:
    host = load_host()
    assert host.sdk_is_checked("999.0.0") is False
    warning = capsys.readouterr().err
    assert "pulumi SDK 999.0.0 is not one this host was checked against" in warning
    assert "4 operations at once" in warning


class _FakeGrpc:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, tuple, dict]] = []
        self.server = self._stock

    def _stock(self, executor: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((executor, args, kwargs))
        return SimpleNamespace(executor=executor)


def test_the_pool_the_host_passes_is_replaced_by_one_of_the_configured_size() -> None:
    host, grpc = load_host(), _FakeGrpc()
    assert host.serve_with_workers(64, grpc) is True
    stock_pool = futures.ThreadPoolExecutor(max_workers=4)
    served = grpc.server(stock_pool, options=[("x", 1)])
    assert served.executor is not stock_pool
    assert served.executor._max_workers == 64
    assert grpc.calls[0][2] == {"options": [("x", 1)]}
    served.executor.shutdown()


def test_a_changed_call_gets_the_stock_server_with_a_warning(capsys) -> None:
    host, grpc = load_host(), _FakeGrpc()
    host.serve_with_workers(64, grpc)
    served = grpc.server(None, options=[])
    assert served.executor is None
    assert "not a thread pool: stock server" in capsys.readouterr().err


def test_pulumis_own_number_changes_nothing() -> None:
    host, grpc = load_host(), _FakeGrpc()
    stock = grpc.server
    assert host.serve_with_workers(4, grpc) is False
    assert grpc.server == stock


def test_the_host_collects_garbage_less_often_with_its_imports_frozen() -> None:
    import gc

    host, before = load_host(), gc.get_threshold()
    try:
        host.collect_garbage_less_often()
        assert gc.get_threshold() == (host.GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.parametrize(("value", "workers"), [("", 64), ("16", 16), ("lots", 64), ("0", 64)])
def test_the_worker_count_is_read_once_and_a_bad_one_named(capsys, value, workers) -> None:
    assert load_host().workers_from({"TLZ_PROVIDER_WORKERS": value}) == workers
    if value in ("lots", "0"):
        assert f"TLZ_PROVIDER_WORKERS={value!r} is not a positive whole number" in (
            capsys.readouterr().err
        )


def _workspace(tmp_path: Path, workers: str) -> tuple[PulumiWorkspace, Path]:
    project_dir = tmp_path / "project"
    shutil.copytree(PROJECT, project_dir)
    (project_dir / "Pulumi.yaml").write_text(
        f"name: provider-host\nruntime:\n  name: python\n  options:\n"
        f"    virtualenv: {VENV_DIR}\n"
        f"plugins:\n  providers:\n    - name: pulumi-python\n      path: {PROVIDER_HOST_DIR}\n"
    )
    store = tmp_path / "store"
    store.mkdir()
    workspace = PulumiWorkspace(
        project_dir=project_dir,
        state_dir=tmp_path / "state",
        extra_env={"TLZ_PROVIDER_WORKERS": workers},
    )
    workspace.init_stack("test")
    workspace.set_config("store", str(store))
    return workspace, store


def _creates_span(store: Path) -> float:
    """Seconds from the first create's start to the last one's end, as the provider saw them."""
    records = [json.loads(path.read_text()) for path in store.glob("*.json")]
    assert len(records) == CREATES
    assert len({record["pid"] for record in records}) == 1  # one provider host for the stack
    return max(r["end"] for r in records) - min(r["start"] for r in records)


@pytest.mark.e2e
def test_sixteen_one_second_creates_in_one_stack_finish_in_under_2_5_s(tmp_path: Path) -> None:
    workspace, store = _workspace(tmp_path, workers="64")
    workspace.run("up", "--yes", "--skip-preview", "--parallel", "32")
    assert _creates_span(store) < 2.5


@pytest.mark.e2e
def test_with_pulumis_own_4_workers_the_same_creates_take_4_s(tmp_path: Path) -> None:
    # The contrast that makes the test above mean something: the host with the stock pool.
    workspace, store = _workspace(tmp_path, workers="4")
    workspace.run("up", "--yes", "--skip-preview", "--parallel", "32")
    assert _creates_span(store) >= 4.0


# Stands in for an engine killed right after starting its provider: it starts the wrapper,
# says the provider's PID and is gone before that interpreter has got anywhere.
ENGINE_GONE_AT_ONCE = textwrap.dedent(
    """
    import os, subprocess, sys, time
    provider = subprocess.Popen(
        [sys.argv[1], "127.0.0.1:9"], start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # ours close as we exit
    )
    print(provider.pid, flush=True)
    # Die once the wrapper has handed over to Python (it has named us by then), while the
    # interpreter is still starting: dying before the shell itself has read its parent is a
    # case no wrapper can tell from a host started by init.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{provider.pid}/cmdline", "rb") as cmdline:
            if b"provider_host.py" in cmdline.read():
                break
        time.sleep(0.001)
    os._exit(0)
    """
)


def test_a_provider_whose_engine_died_while_it_started_exits(tmp_path: Path) -> None:
    """The wrapper names the engine before `exec`: a host that is already re-parented when it
    first looks does not mistake init for its engine (and wait for it forever)."""
    engine = subprocess.run(
        [sys.executable, "-c", ENGINE_GONE_AT_ONCE,
         str(PROVIDER_HOST_DIR / "pulumi-resource-pulumi-python")],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "PULUMI_RUNTIME_VIRTUALENV": str(VENV_DIR)},
    )  # fmt: skip
    provider = int(engine.stdout)

    def gone() -> bool:
        try:
            stat = Path(f"/proc/{provider}/stat").read_text()
        except OSError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")

    try:
        # Generous: the interpreter itself may take seconds to start on a loaded machine.
        wait_until(gone, timeout=30, what="the provider host's exit after its engine died")
    finally:
        with contextlib.suppress(ProcessLookupError):
            if not gone():
                os.kill(provider, signal.SIGKILL)
