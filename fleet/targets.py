"""Targeted runs: preview or up only the customers of a group that changed since a git ref.

A group's preview and up re-run the program over every customer and let the engine diff every
resource, though one customer joined. With `--base REF`, the fleet compares the group's inputs
at REF with the working tree and, when it can prove that only some customers' entries differ
(added or edited) and that what is deployed is exactly REF's inputs, runs the group with
`--target` on those customers' Tenant components and `--target-dependents` (everything under
them). The engine then leaves every other resource as its state has it: no provider check or
diff, no Twilio call.

Falls back to the full run, saying why, whenever the proof fails:
- shared code or the group's policy config differs from REF (every resource may change);
- the group's settings (anything in its stack file or catalog but the customer entries) differ;
- a customer was removed, or its key changed (a delete must not be skipped), or keys repeat;
- the group did not exist at REF, or its last run is not a successful `fleet up` whose recorded
  fingerprint is that of REF's inputs (then the state may hold other pending changes).
A targeted `up` records the fingerprint of the current inputs, as a full one does: the other
customers' entries are REF's, which that state had converged, so the group is converged.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from architecture.errors import ArchitectureError
from architecture.loading import PROJECT, read_stack_yaml
from fleet.catalog import ARCHITECTURE, CATALOG, FleetError, FleetSettings, Group, catalog_of
from fleet.inputs import (
    MESSAGE_PREFIX,
    digest_of,
    files_changed_since,
    is_shared_code,
    policy_config_of,
)

# The program's component for one customer, with its parent's type: the URN the fleet targets.
# A literal, so a program that stopped naming it so fails the run loudly ("could not be
# found"), never targets nothing in silence (tests/fleet/test_targeted_runs.py).
TENANT_TYPE_CHAIN = "tlz:index:LandingZone$tlz:index:Tenant"


@dataclass(frozen=True)
class Targeted:
    customers: tuple[str, ...]  # keys of the customers added or edited since the ref
    base_message: str  # the update message of a group converged with the ref's inputs

    def targets(self, stack: str) -> list[str]:
        return [tenant_urn(stack, key) for key in self.customers]

    def describe(self, base: str) -> str:
        shown = ", ".join(self.customers[:3]) + (" …" if len(self.customers) > 3 else "")
        return f"targeted: {len(self.customers)} customer(s) changed since {base} ({shown})"


@dataclass(frozen=True)
class FullRun:
    reason: str

    def describe(self, base: str) -> str:
        return f"full run: {self.reason}"


def tenant_urn(stack: str, key: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{TENANT_TYPE_CHAIN}::{key}"


def plan_targets(
    settings: FleetSettings, group: Group, base: str, changed_files: list[str] | None = None
) -> Targeted | FullRun:
    """What a run of `group` against `base` may skip (see the module doc). `changed_files`:
    `files_changed_since(project, base)`, when the caller has it already."""
    project = settings.project_dir
    files = files_changed_since(project, base) if changed_files is None else changed_files
    shared = [name for name in files if is_shared_code(name)]
    if shared:
        return FullRun(f"shared code changed since {base} ({shared[0]})")
    policy = policy_config_of(settings, group.name)
    policy_name = str(policy.relative_to(project))
    if policy_name in files or f"policies/config/{group.name}.json" in files:
        return FullRun(f"its policy config changed since {base}")
    stack_name = group.path.name
    old_stack_text = _show(project, base, stack_name)
    if old_stack_text is None:
        return FullRun(f"{stack_name} is not in {base}")
    try:
        old_document = read_stack_yaml(old_stack_text, f"{base}:{stack_name}")
        new_document = read_stack_yaml(group.path.read_text(encoding="utf-8"), stack_name)
        old_catalog_name, old_tenants = _tenants(project, base, old_document, group.path)
        new_catalog_name, new_tenants = _tenants(project, None, new_document, group.path)
    except (ArchitectureError, FleetError, OSError, TypeError, KeyError) as error:
        return FullRun(f"its inputs at {base} cannot be compared ({str(error).splitlines()[0]})")
    if old_catalog_name != new_catalog_name or _settings_of(old_document) != _settings_of(
        new_document
    ):
        return FullRun(f"the group's settings changed since {base}")
    old_by_key, new_by_key = _by_key(old_tenants), _by_key(new_tenants)
    if old_by_key is None or new_by_key is None:
        return FullRun("customer keys are missing or repeated")
    removed = sorted(set(old_by_key) - set(new_by_key))
    if removed:
        return FullRun(f"customer '{removed[0]}' was removed since {base} (its delete must run)")
    changed = tuple(key for key, entry in new_by_key.items() if old_by_key.get(key) != entry)
    if not changed:
        return FullRun(f"no customer entry differs from {base}")
    inputs = [(stack_name, old_stack_text.encode())]
    if old_catalog_name is not None:
        old_catalog = _show(project, base, old_catalog_name)
        if old_catalog is None:
            return FullRun(f"{old_catalog_name} is not in {base}")
        inputs.append((Path(old_catalog_name).name, old_catalog.encode()))
    inputs.append((policy.name, policy.read_bytes()))
    return Targeted(changed, MESSAGE_PREFIX + digest_of(project, inputs))


def _show(project: Path, ref: str, relative: str) -> str | None:
    """The file's text at `ref`, None when it is not there."""
    shown = subprocess.run(
        ["git", "show", f"{ref}:./{relative}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout if shown.returncode == 0 else None


def _tenants(
    project: Path, ref: str | None, document: Any, stack_path: Path
) -> tuple[str | None, list[Any]]:
    """(catalog path relative to the project or None, the tenant entries), at `ref` or on disk."""
    config = document["config"]
    if config.get(CATALOG) is None:
        tenants = (config.get(ARCHITECTURE) or {}).get("tenants") or []
        return None, list(tenants)
    catalog = catalog_of(document, stack_path)
    assert catalog is not None
    relative = str(catalog.relative_to(project))
    if ref is None:
        text = catalog.read_text(encoding="utf-8")
    else:
        shown = _show(project, ref, relative)
        if shown is None:
            raise FleetError(f"{relative} is not in {ref}")
        text = shown
    listed = read_stack_yaml(text, relative)
    if not isinstance(listed, Mapping) or not isinstance(listed.get("tenants"), list):
        raise FleetError(f"{relative}: no tenants list")
    return relative, list(listed["tenants"])


def _settings_of(document: Any) -> Any:
    """The stack file without its customer entries."""
    config = dict(document["config"])
    architecture = config.get(ARCHITECTURE)
    if isinstance(architecture, Mapping):
        config[ARCHITECTURE] = {k: v for k, v in architecture.items() if k != "tenants"}
    return {**document, "config": config}


def _by_key(tenants: list[Any]) -> dict[str, Any] | None:
    found: dict[str, Any] = {}
    for entry in tenants:
        key = entry.get("key") if isinstance(entry, Mapping) else None
        if not isinstance(key, str) or key in found:
            return None
        found[key] = entry
    return found
