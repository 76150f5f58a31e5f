"""scripts/resume-stack's rules on a file backend laid out as Pulumi lays it out, without the
CLI: which locks it removes (only those of a run that is provably gone), which it refuses to
touch, and the checkpoint it puts back. The real-CLI runs are in test_resume_stack.py."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.pulumi_cli import REPO_ROOT


def _load_resume_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "resume_stack", REPO_ROOT / "scripts" / "resume_stack.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["resume_stack"] = module
    spec.loader.exec_module(module)
    return module


resume = _load_resume_module()
REF = resume.StackRef("twilio-landing-zone", "dev")
LOCKS = ".pulumi/locks/organization/twilio-landing-zone/dev"
CHECKPOINT = ".pulumi/stacks/twilio-landing-zone/dev.json"


@pytest.fixture
def store(tmp_path: Path) -> resume.FileStore:
    root = tmp_path / "backend"
    (root / ".pulumi").mkdir(parents=True)
    (root / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    return resume.FileStore(root)


def write_lock(
    store: resume.FileStore, pid: int, *, host: str | None = None, age_s: float = 0.0
) -> Path:
    path = store.root / LOCKS / f"lock-{pid}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    written = datetime.now(UTC) - timedelta(seconds=age_s)
    content = {
        "pid": pid,
        "username": "ci",
        "hostname": host or socket.gethostname(),
        "timestamp": written.isoformat().replace("+00:00", "Z"),
    }
    path.write_text(json.dumps(content))
    return path


@pytest.fixture
def running_pulumi(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose executable is called `pulumi` (a copy of `sleep`)."""
    executable = tmp_path / "bin" / "pulumi"
    executable.parent.mkdir()
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", executable)
    process = subprocess.Popen([str(executable), "600"])
    yield process
    process.kill()
    process.wait()


def gone_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_lock_of_a_run_that_is_gone_is_removed(store: resume.FileStore) -> None:
    lock = write_lock(store, gone_pid(), age_s=5)
    # The file backend's blob library keeps metadata beside each blob: not a second lock.
    attrs = lock.with_name(lock.name + ".attrs")
    attrs.write_text('{"user.content_type": "application/octet-stream"}')
    assert resume.project_scoped(store)
    resume.clear_stale_locks(store, REF, True)
    assert not lock.exists() and not attrs.exists()


def test_a_lock_of_a_live_pulumi_is_refused_and_kept(
    store: resume.FileStore, running_pulumi: subprocess.Popen[bytes]
) -> None:
    lock = write_lock(store, running_pulumi.pid)
    stale = write_lock(store, gone_pid(), age_s=60)
    with pytest.raises(
        resume.ResumeError, match=f"locked by a running pulumi .pid {running_pulumi.pid},"
    ):
        resume.clear_stale_locks(store, REF, True)
    # One live holder stops everything: not even the stale lock beside it is touched.
    assert lock.exists() and stale.exists()


def test_a_reused_pid_does_not_keep_a_stale_lock(
    store: resume.FileStore, running_pulumi: subprocess.Popen[bytes]
) -> None:
    # The lock was written an hour before the process now holding that PID started.
    lock = write_lock(store, running_pulumi.pid, age_s=3600)
    resume.clear_stale_locks(store, REF, True)
    assert not lock.exists()


def test_a_live_process_that_is_not_pulumi_does_not_hold_the_lock(store: resume.FileStore) -> None:
    lock = write_lock(store, os.getpid(), age_s=0)  # this pytest: started before, not pulumi
    resume.clear_stale_locks(store, REF, True)
    assert not lock.exists()


def test_a_lock_from_another_host_is_refused(store: resume.FileStore) -> None:
    lock = write_lock(store, gone_pid(), host="ci-runner-7")
    with pytest.raises(resume.ResumeError, match="locked by a run on another host"):
        resume.clear_stale_locks(store, REF, True)
    assert lock.exists()


def test_an_unreadable_lock_is_refused(store: resume.FileStore) -> None:
    lock = store.root / LOCKS / "torn.json"
    lock.parent.mkdir(parents=True)
    lock.write_text("{")
    with pytest.raises(resume.ResumeError, match="cannot be read"):
        resume.clear_stale_locks(store, REF, True)
    assert lock.exists()


def test_locks_of_a_stack_with_a_longer_name_are_not_this_stacks(store: resume.FileStore) -> None:
    other = store.root / ".pulumi/locks/organization/twilio-landing-zone/dev2/x.json"
    other.parent.mkdir(parents=True)
    other.write_text(
        json.dumps(
            {
                "pid": 1,
                "username": "u",
                "hostname": "elsewhere",
                "timestamp": "2026-01-01T00:00:00Z",
            }
        )
    )
    resume.clear_stale_locks(store, REF, True)
    assert other.exists()


def test_an_emptied_checkpoint_is_put_back_from_its_backup(store: resume.FileStore) -> None:
    checkpoint = store.root / CHECKPOINT
    checkpoint.parent.mkdir(parents=True)
    good = json.dumps({"version": 3, "checkpoint": {"latest": {"resources": []}}}).encode()
    checkpoint.with_name("dev.json.bak").write_bytes(good)
    checkpoint.write_bytes(b"")  # what a kill during the rewrite leaves
    resume.repair_checkpoint(store, REF, True)
    assert checkpoint.read_bytes() == good


def test_a_good_checkpoint_is_left_alone(store: resume.FileStore) -> None:
    checkpoint = store.root / CHECKPOINT
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_text('{"version": 3}')
    checkpoint.with_name("dev.json.bak").write_text('{"version": 2}')
    resume.repair_checkpoint(store, REF, True)
    assert checkpoint.read_text() == '{"version": 3}'


def test_an_emptied_checkpoint_without_a_good_backup_stops_the_command(
    store: resume.FileStore,
) -> None:
    checkpoint = store.root / CHECKPOINT
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    with pytest.raises(resume.ResumeError, match="does not parse and there is no good backup"):
        resume.repair_checkpoint(store, REF, True)


def test_a_missing_stack_stops_the_command(store: resume.FileStore) -> None:
    with pytest.raises(resume.ResumeError, match="no stack 'dev' of project"):
        resume.repair_checkpoint(store, REF, True)


def test_a_backend_other_than_file_or_postgres_is_named_not_guessed() -> None:
    with pytest.raises(resume.ResumeError, match=r"s3://bucket is not one this command can check"):
        resume.open_store("s3://bucket")


def test_a_password_in_the_backend_url_is_never_printed() -> None:
    assert (
        resume.redacted("postgres://u:hunter2@db:5432/state") == "postgres://u:****@db:5432/state"
    )


def test_an_emptied_metadata_sidecar_is_removed_and_the_checkpoint_kept(
    store: resume.FileStore,
) -> None:
    checkpoint = store.root / CHECKPOINT
    checkpoint.parent.mkdir(parents=True)
    good = json.dumps({"version": 3, "checkpoint": {"latest": {"resources": []}}}).encode()
    checkpoint.write_bytes(good)
    # What a kill during the blob library's in-place sidecar write leaves.
    torn = checkpoint.with_name("dev.json.attrs")
    torn.write_bytes(b"")
    intact = checkpoint.with_name("dev.json.bak.attrs")
    intact.write_text('{"user.content_type": "text/plain; charset=utf-8"}')
    resume.repair_metadata(store, REF, True)
    assert not torn.exists()
    assert intact.exists()
    assert checkpoint.read_bytes() == good
