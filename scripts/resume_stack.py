"""Re-run a stack after a killed `pulumi up`: the one documented command (scripts/resume-stack,
`make resume STACK=...`). It works on Pulumi's DIY backends this project documents: the file
backend (`file://`) and PostgreSQL (`postgres://`).

1. The checkpoint. The file backend writes each blob atomically (a temporary file renamed),
   but the blob's `<key>.attrs` metadata sidecar in place: a kill during that write leaves the
   sidecar empty and the CLI then fails with `failed to load checkpoint: EOF` on an intact
   checkpoint. Such sidecars (checkpoint, `.bak`, history, backups) are removed: the blob
   library reads a missing one as its defaults. A checkpoint that is itself empty or torn (a
   backend copied by hand, a full disk) is put back from `<stack>.json.bak`. (The
   PostgreSQL backend writes a checkpoint in one `INSERT ... ON CONFLICT DO UPDATE` statement:
   a kill leaves the old row or the new one, never a torn one, so there is nothing to restore.)
2. The lock. Pulumi's DIY lock is a record `{pid, username, hostname, timestamp}` under
   `.pulumi/locks/organization/<project>/<stack>/`, written by every run that changes the
   stack and left behind by a killed one. A lock is removed only when it is provably stale:
   written on this host by a process that is gone (or whose PID now belongs to a process
   started after the lock was written). A lock of a live `pulumi`, of another host (whose
   processes this one cannot see) or that cannot be read is never removed: the command stops
   with one line and a non-zero exit, and changes nothing.
3. `pulumi refresh --clear-pending-creates` (creates whose answer the killed engine never saw),
   then `pulumi up`, guarded by the policy pack when `policies/config/<stack>.json` exists.
   Every create first looks for its object by identity tag, so this adopts what the killed
   run had made instead of making twins.

The backend is $PULUMI_BACKEND_URL, or the one `pulumi whoami` reports.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_SUFFIXES = (".json", ".json.gz", ".json.zst")
ATTRS_SUFFIX = ".attrs"
# A lock's timestamp and the holder's start time come from different clocks' roundings.
START_TIME_SLACK_S = 2.0


class ResumeError(Exception):
    """Stops the command with its one-line message (exit 1)."""


def say(message: str) -> None:
    print(f"resume-stack: {message}", file=sys.stderr, flush=True)


# --- where the backend keeps things ---------------------------------------------------------


class StateStore(Protocol):
    """The DIY backend's bucket: keys like `.pulumi/stacks/<project>/<stack>.json`."""

    description: str

    def read(self, key: str) -> bytes | None: ...

    def keys(self, prefix: str) -> list[str]: ...

    def delete(self, key: str) -> None: ...


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"file backend {root}"

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def keys(self, prefix: str) -> list[str]:
        directory = self.root / prefix
        if not directory.is_dir():
            return []
        # `<key>.attrs` files are the blob library's metadata beside each blob, not blobs.
        return sorted(
            str(p.relative_to(self.root))
            for p in directory.rglob("*")
            if p.is_file() and not p.name.endswith(ATTRS_SUFFIX)
        )

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)
        (self.root / (key + ATTRS_SUFFIX)).unlink(missing_ok=True)

    def drop_torn_metadata(self, prefix: str) -> list[str]:
        """Remove the `.attrs` sidecars under `prefix` that do not parse; their keys.

        The blob library writes a blob to a temporary file and renames it (atomic), but writes
        the blob's `.attrs` sidecar in place (create, then encode): a kill in between leaves it
        empty, and every later read of the blob fails with `failed to load checkpoint: EOF`
        although the checkpoint itself is intact. A missing sidecar is read as the library's
        defaults, and Pulumi keeps nothing of its own in it."""
        torn = []
        for sidecar in sorted(self.root.glob(prefix + "*" + ATTRS_SUFFIX)):
            try:
                if isinstance(json.loads(sidecar.read_bytes()), dict):
                    continue
            except ValueError:
                pass
            sidecar.unlink()
            torn.append(str(sidecar.relative_to(self.root))[: -len(ATTRS_SUFFIX)])
        return torn

    def restore(self, key: str, data: bytes) -> None:
        # Write beside, then rename: a second kill cannot tear the restored checkpoint.
        path = self.root / key
        spare = path.with_name(path.name + ".resume-tmp")
        spare.write_bytes(data)
        os.replace(spare, path)


class PostgresStore:
    """Pulumi's table (default `pulumi_state`): key TEXT, data JSON `{"data": <base64>}`."""

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg import sql

        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        table = query.pop("table", "") or "pulumi_state"
        conninfo = urlunsplit(parts._replace(query=urlencode(query)))
        self._sql = sql
        self._table = sql.Identifier(*table.split("."))
        host = parts.hostname or os.environ.get("PGHOST", "localhost")
        database = unquote(parts.path.lstrip("/")) or os.environ.get("PGDATABASE", "")
        self.description = f"PostgreSQL backend {host}/{database} table {table}"
        # Pulumi prefixes every key with the URL's path, here the database name:
        # `postgres://…/state` stores `state/.pulumi/stacks/…`.
        self._prefix = f"{database}/" if parts.path.lstrip("/") else ""
        try:
            self._connection = psycopg.connect(conninfo, autocommit=True, connect_timeout=15)
        except psycopg.Error as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else error
            raise ResumeError(f"cannot connect to the {self.description}: {first_line}") from None

    def read(self, key: str) -> bytes | None:
        query = self._sql.SQL("SELECT data->>'data' FROM {} WHERE key = %s").format(self._table)
        row = self._connection.execute(query, (self._prefix + key,)).fetchone()
        return None if row is None else base64.b64decode(row[0])

    def keys(self, prefix: str) -> list[str]:
        query = self._sql.SQL("SELECT key FROM {} WHERE key LIKE %s ORDER BY key").format(
            self._table
        )
        full = self._prefix + prefix
        escaped = full.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._connection.execute(query, (escaped + "%",))
        return [row[0].removeprefix(self._prefix) for row in rows]

    def delete(self, key: str) -> None:
        query = self._sql.SQL("DELETE FROM {} WHERE key = %s").format(self._table)
        self._connection.execute(query, (self._prefix + key,))


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:****@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(url: str) -> StateStore:
    scheme = urlsplit(url).scheme
    if scheme == "file":
        path = unquote(url[len("file://") :].split("?", 1)[0])
        return FileStore(Path(path).expanduser())
    if scheme == "postgres":
        return PostgresStore(url)
    raise ResumeError(
        f"backend {redacted(url)} is not one this command can check (file:// and postgres:// "
        "only): use `pulumi cancel`, `pulumi refresh --clear-pending-creates` and `pulumi up`"
    )


# --- the stack's checkpoint and locks -------------------------------------------------------


@dataclass(frozen=True)
class StackRef:
    project: str
    stack: str

    def checkpoint_keys(self, project_scoped: bool) -> list[str]:
        scope = f"{self.project}/{self.stack}" if project_scoped else self.stack
        base = f".pulumi/stacks/{scope}"
        return [base + suffix for suffix in CHECKPOINT_SUFFIXES]

    def lock_prefix(self, project_scoped: bool) -> str:
        # Pulumi: path.Join(".pulumi/locks", QnamePath(fully qualified stack name)), "/" after
        # it so that stack `dev` does not match the locks of a stack `dev2`.
        name = f"organization/{self.project}/{self.stack}" if project_scoped else self.stack
        return f".pulumi/locks/{name}/"


def project_scoped(store: StateStore) -> bool:
    """Backends laid out since Pulumi 3.61 say `version: 1` in `.pulumi/meta.yaml`."""
    meta = store.read(".pulumi/meta.yaml")
    if meta is None:
        return True  # a new backend: the CLI creates it project-scoped
    return int((yaml.safe_load(meta) or {}).get("version", 0)) >= 1


def parses(key: str, data: bytes) -> bool:
    try:
        if key.endswith(".gz"):
            data = gzip.decompress(data)
        elif key.endswith(".zst"):
            return bool(data)  # no zstd in the standard library: non-empty is what we can tell
        return isinstance(json.loads(data), dict)
    except (OSError, EOFError, ValueError):
        return False


def repair_metadata(store: StateStore, ref: StackRef, scoped: bool) -> None:
    if not isinstance(store, FileStore):
        return
    scope = f"{ref.project}/{ref.stack}" if scoped else ref.stack
    # The checkpoint and its `.bak`, then the stack's history and backups folders.
    for prefix in (
        f".pulumi/stacks/{scope}.json",
        f".pulumi/history/{scope}/",
        f".pulumi/backups/{scope}/",
    ):
        for key in store.drop_torn_metadata(prefix):
            say(
                f"the metadata file {store.root / key}{ATTRS_SUFFIX} was emptied by the kill: "
                "removed it"
            )


def repair_checkpoint(store: StateStore, ref: StackRef, scoped: bool) -> None:
    found = [(key, store.read(key)) for key in ref.checkpoint_keys(scoped)]
    present = [(key, data) for key, data in found if data is not None]
    if not present:
        raise ResumeError(
            f"no stack '{ref.stack}' of project '{ref.project}' in the {store.description}: "
            "nothing to resume (is PULUMI_BACKEND_URL the backend the run used?)"
        )
    key, data = present[0]
    if parses(key, data):
        return
    backup = store.read(key + ".bak")
    if not isinstance(store, FileStore):
        raise ResumeError(f"the checkpoint {key} in the {store.description} does not parse")
    if backup is None or not parses(key, backup):
        raise ResumeError(
            f"the checkpoint {store.root / key} does not parse and there is no good backup "
            f"({key}.bak): restore it from your own backups, or `pulumi stack import` one"
        )
    store.restore(key, backup)
    say(f"the checkpoint {store.root / key} was emptied by the kill: put back {key}.bak")


@dataclass(frozen=True)
class Lock:
    key: str
    pid: int
    username: str
    hostname: str
    written_at: datetime

    def describe(self) -> str:
        return (
            f"pid {self.pid}, {self.username}@{self.hostname}, "
            f"since {self.written_at.isoformat(timespec='seconds')}"
        )


def read_lock(store: StateStore, key: str) -> Lock | None:
    data = store.read(key)
    if data is None:
        return None  # released meanwhile
    try:
        content = json.loads(data)
        return Lock(
            key,
            int(content["pid"]),
            str(content["username"]),
            str(content["hostname"]),
            datetime.fromisoformat(content["timestamp"]),
        )
    except (ValueError, KeyError, TypeError):
        raise ResumeError(
            f"the lock {key} cannot be read, so its holder cannot be checked: if no "
            "`pulumi` runs this stack any more, run `pulumi cancel --yes`, then this again"
        ) from None


def _process_start(pid: int) -> float | None:
    """Start time (Unix seconds) of a live process, None when there is none (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    boot = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _is_pulumi(pid: int) -> bool:
    try:
        executable = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        executable = ""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        name = ""
    return "pulumi" in executable or "pulumi" in name


def holder_is_alive(lock: Lock) -> bool:
    """Whether the process that wrote the lock may still run. Only this host's processes can
    be seen; for any other host the answer is: it may."""
    if lock.hostname != socket.gethostname() or not Path("/proc/self/stat").exists():
        return True
    started = _process_start(lock.pid)
    if started is None:
        return False
    if started > lock.written_at.timestamp() + START_TIME_SLACK_S:
        return False  # the PID was reused by a process started after the lock was written
    return _is_pulumi(lock.pid)


def clear_stale_locks(store: StateStore, ref: StackRef, scoped: bool) -> None:
    locks = [read_lock(store, key) for key in store.keys(ref.lock_prefix(scoped))]
    locks = [lock for lock in locks if lock is not None]
    # Every lock is checked before any is removed: one live holder stops the whole command.
    for lock in locks:
        if lock.hostname != socket.gethostname():
            raise ResumeError(
                f"stack '{ref.stack}' is locked by a run on another host ({lock.describe()}), "
                "which this host cannot see: if that run is over, run `pulumi cancel --yes "
                f"--stack {ref.stack}` there or here, then this again"
            )
        if holder_is_alive(lock):
            raise ResumeError(
                f"stack '{ref.stack}' is locked by a running pulumi ({lock.describe()}): "
                "let it finish, or stop it, then run this again; nothing was changed"
            )
    for lock in locks:
        store.delete(lock.key)
        say(f"removed the stale lock of a run that is gone ({lock.describe()})")


# --- the command ----------------------------------------------------------------------------


def pulumi_executable() -> str:
    found = shutil.which("pulumi") or (str(ROOT / ".bin" / "pulumi"))
    if not os.access(found, os.X_OK):
        raise ResumeError("no pulumi CLI on PATH: run `make setup`")
    return found


def backend_url(pulumi: str, cwd: Path) -> str:
    url = os.environ.get("PULUMI_BACKEND_URL", "").strip()
    if url:
        return url
    completed = subprocess.run(
        [pulumi, "whoami", "--json", "--non-interactive"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise ResumeError("no PULUMI_BACKEND_URL and `pulumi whoami` names no backend")
    return str(json.loads(completed.stdout)["url"])


def project_name(project_dir: Path) -> str:
    settings = project_dir / "Pulumi.yaml"
    if not settings.is_file():
        raise ResumeError(f"no Pulumi.yaml in {project_dir}: run this from the project")
    return str(yaml.safe_load(settings.read_text())["name"])


def stack_ref(stack: str, project: str) -> StackRef:
    parts = stack.split("/")
    if len(parts) == 1:
        return StackRef(project, parts[0])
    if len(parts) == 3 and parts[1] == project:
        return StackRef(project, parts[2])
    raise ResumeError(f"stack '{stack}': give the stack name (e.g. dev) of project '{project}'")


def run(pulumi: str, cwd: Path, *args: str) -> int:
    command = [pulumi, *args, "--non-interactive"]
    say("$ pulumi " + " ".join(args))
    return subprocess.run(command, cwd=cwd).returncode


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/resume-stack",
        description="Re-run a stack after a killed `pulumi up`: restore an emptied checkpoint "
        "(file backend), remove the lock only if its run is gone, refresh, up.",
    )
    parser.add_argument("stack", help="the stack to resume, e.g. dev")
    parser.add_argument(
        "--cwd",
        type=Path,
        default=None,
        help="the project directory (default: here, if it holds Pulumi.yaml, else the checkout)",
    )
    parser.add_argument(
        "up_args", nargs=argparse.REMAINDER, help="after `--`: extra arguments for `pulumi up`"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    project_dir = args.cwd or (Path.cwd() if (Path.cwd() / "Pulumi.yaml").is_file() else ROOT)
    up_args = [a for a in args.up_args if a != "--"] if args.up_args else []
    try:
        pulumi = pulumi_executable()
        ref = stack_ref(args.stack, project_name(project_dir))
        store = open_store(backend_url(pulumi, project_dir))
        scoped = project_scoped(store)
        repair_metadata(store, ref, scoped)
        repair_checkpoint(store, ref, scoped)
        clear_stale_locks(store, ref, scoped)
    except ResumeError as error:
        say(str(error))
        return 1
    started = time.monotonic()
    status = run(
        pulumi,
        project_dir,
        "refresh",
        "--stack",
        ref.stack,
        "--yes",
        "--skip-preview",
        "--clear-pending-creates",
    )
    if status != 0:
        say(f"`pulumi refresh` failed (exit {status}): see its output above")
        return status
    policy_config = ROOT / "policies" / "config" / f"{ref.stack}.json"
    guard = (
        ["--policy-pack", str(ROOT / "policies"), "--policy-pack-config", str(policy_config)]
        if policy_config.is_file()
        else []
    )
    status = run(
        pulumi,
        project_dir,
        "up",
        "--stack",
        ref.stack,
        "--yes",
        "--skip-preview",
        *guard,
        *up_args,
    )
    if status != 0:
        say(f"`pulumi up` failed (exit {status}): see its output above")
        return status
    say(f"stack '{ref.stack}' resumed in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
