"""What a group's result depends on, and which groups a change touches.

A group's inputs are its stack file (and the catalog it names, if any), its policy config
(policies/config/<group>.json, else the fleet's default) and the code every group shares:
the program (and what it imports), the provider and language hosts, and the policy pack. A
change to shared code touches every group.

`fingerprint` hashes those inputs as they are on disk; `fleet up` records it in the update's
message, so a later run can tell a converged group (its last update succeeded with these very
inputs) from one to run again. `changed_groups` compares with a git ref instead.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fleet.catalog import FleetError, FleetSettings, Group, discover_groups, group_pattern

# Paths, relative to the project, of the code every group runs: a file here or under a folder
# here (names ending in "/") is shared. The pack's per-stack configs are not: see below.
SHARED_CODE = (
    "Pulumi.yaml",
    "__main__.py",
    "requirements.txt",
    "architecture/",
    "components/",
    "providers/",
    "emulator/defaults.py",  # the providers' emulator defaults
    "policies/",
    "tools/provider_host/",
    "tools/language_host/",
)
POLICY_CONFIGS = "policies/config/"
MESSAGE_PREFIX = "fleet inputs "


def policy_config_of(settings: FleetSettings, group: str) -> Path:
    own = settings.project_dir / POLICY_CONFIGS / f"{group}.json"
    return own if own.is_file() else settings.policy_config


def is_shared_code(relative: str) -> bool:
    if relative.startswith(POLICY_CONFIGS):
        return False
    if relative.endswith((".pyc",)) or "/__pycache__/" in f"/{relative}":
        return False
    return any(
        relative == path or (path.endswith("/") and relative.startswith(path))
        for path in SHARED_CODE
    )


def _shared_files(project_dir: Path) -> list[Path]:
    found = []
    for entry in SHARED_CODE:
        path = project_dir / entry
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += [
                p
                for p in path.rglob("*")
                if p.is_file() and is_shared_code(str(p.relative_to(project_dir)))
            ]
    return sorted(found)


@cache
def shared_code_digest(project_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in _shared_files(project_dir):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(settings: FleetSettings, group: Group) -> str:
    catalog = group.catalog()
    inputs = (group.path, *([catalog] if catalog else []), policy_config_of(settings, group.name))
    return digest_of(settings.project_dir, [(path.name, path.read_bytes()) for path in inputs])


def digest_of(project_dir: Path, inputs: list[tuple[str, bytes]]) -> str:
    """The fingerprint of a group whose files (stack file, catalog, policy config; by name)
    hold these contents, with the shared code as on disk."""
    digest = hashlib.sha256(shared_code_digest(project_dir).encode())
    for name, content in inputs:
        digest.update(name.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()[:20]


def update_message(settings: FleetSettings, group: Group) -> str:
    return f"{MESSAGE_PREFIX}{fingerprint(settings, group)}"


# --- against a git ref ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChangedGroup:
    name: str
    reason: str


def _git(project_dir: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=project_dir, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        message = (completed.stderr.strip().splitlines() or ["failed"])[-1]
        raise FleetError(f"git {' '.join(args)}: {message}")
    return completed.stdout


def files_changed_since(project_dir: Path, base: str) -> list[str]:
    """Paths relative to the project that differ between `base` and the working tree
    (committed or not), untracked files included."""
    try:
        _git(project_dir, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except FleetError:
        raise FleetError(
            f"--base {base}: not a commit of this repository (a shallow CI checkout must fetch "
            "it first, e.g. `git fetch origin main` with `fetch-depth: 0`)"
        ) from None
    # Both name paths from the project directory (`--relative`), and only below it.
    listed = _git(project_dir, "diff", "--name-only", "--no-renames", "--relative", base)
    untracked = _git(project_dir, "ls-files", "--others", "--exclude-standard")
    return sorted({line for line in (listed + untracked).splitlines() if line})


def changed_groups(settings: FleetSettings, base: str) -> tuple[list[ChangedGroup], list[str]]:
    """The groups to check, each with why, and the groups whose stack file was removed."""
    files = files_changed_since(settings.project_dir, base)
    groups = discover_groups(settings)
    shared = [name for name in files if is_shared_code(name)]
    if shared:
        reason = f"shared code changed ({_first(shared)})"
        chosen = [ChangedGroup(group.name, reason) for group in groups]
    else:
        chosen = []
        changed = set(files)
        for group in groups:
            config = policy_config_of(settings, group.name)
            config_name = str(config.relative_to(settings.project_dir))
            own_config = f"{POLICY_CONFIGS}{group.name}.json"
            catalog = group.catalog()
            catalog_name = str(catalog.relative_to(settings.project_dir)) if catalog else None
            if group.path.name in changed:
                chosen.append(ChangedGroup(group.name, f"{group.path.name} changed"))
            elif catalog_name in changed:
                chosen.append(ChangedGroup(group.name, f"{catalog_name} changed"))
            elif config_name in changed or own_config in changed:
                chosen.append(ChangedGroup(group.name, f"{config_name} changed"))
    present = {group.name for group in groups}
    pattern = group_pattern(settings.group_prefix)
    removed = sorted(
        match.group(1)
        for match in (pattern.match(name) for name in files if "/" not in name)
        if match and match.group(1) not in present
    )
    return chosen, removed


def _first(names: Iterable[str]) -> str:
    names = list(names)
    more = f" and {len(names) - 1} more" if len(names) > 1 else ""
    return names[0] + more
