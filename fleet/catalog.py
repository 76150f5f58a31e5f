"""The fleet's groups: production customers in `Pulumi.<prefix>NN.yaml` stack files.

The group stack files are the data: each lists its customers inline or, with `fleet.yaml`'s
`catalog_dir`, names a catalog file that lists them (`twilio-landing-zone:catalog`, see
architecture/loading.py), which keeps the config Pulumi hands the program and the policy pack
small at any group size. `fleet.yaml` only says how a new customer and a new group are
written. The rules of `add_customer`:
- a customer key is unique across the fleet, and a customer's group never changes once
  assigned (its identity tags include the stack, so a move would mean new Twilio objects);
- a new customer goes to the newest group (highest NN) while it has room: fewer than
  `max_customers_per_group` customers and the config still fits the program's environment
  variable; otherwise a new group is started;
- an older group is never refilled or rebalanced, even when it has room.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from architecture.errors import ArchitectureError
from architecture.loading import (
    ARCHITECTURE_KEY,
    CATALOG_KEY,
    CONFIG_ENVIRONMENT_LIMIT,
    PROJECT,
    catalog_path,
    config_environment_size,
    load_config_values,
    load_stack_config,
    read_catalog,
    read_stack_file,
)

FLEET_FILE = "fleet.yaml"
ARCHITECTURE = f"{PROJECT}:{ARCHITECTURE_KEY}"
CATALOG = f"{PROJECT}:{CATALOG_KEY}"
DEFAULT_AREA_CODE = "415"


class FleetError(Exception):
    """One line for the operator: what is wrong, naming the file, group or field."""


@dataclass(frozen=True)
class FleetSettings:
    project_dir: Path
    group_prefix: str
    max_customers_per_group: int
    policy_config: Path
    group_config: Mapping[str, Any]
    encryptionsalt: str | None
    customer: Mapping[str, Any]
    # Where new groups list their customers (a folder of the project); None: inline.
    catalog_dir: str | None = None


def load_settings(project_dir: Path) -> FleetSettings:
    path = project_dir / FLEET_FILE
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise FleetError(f"{path}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise FleetError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(document, Mapping):
        raise FleetError(f"{path}: expected a mapping of fleet settings")
    known = {
        "group_prefix",
        "max_customers_per_group",
        "policy_config",
        "group_config",
        "encryptionsalt",
        "customer",
        "catalog_dir",
    }
    unknown = sorted(set(document) - known)
    if unknown:
        raise FleetError(f"{path}: {unknown[0]}: not a fleet setting (known: {sorted(known)})")
    prefix = document.get("group_prefix")
    if not isinstance(prefix, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", prefix):
        raise FleetError(f"{path}: group_prefix: a lowercase stack-name prefix like 'prod-g'")
    size = document.get("max_customers_per_group")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise FleetError(f"{path}: max_customers_per_group: a positive whole number")
    for key in ("group_config", "customer"):
        if not isinstance(document.get(key), Mapping):
            raise FleetError(f"{path}: {key}: a mapping is required")
    policy = document.get("policy_config")
    if not isinstance(policy, str):
        raise FleetError(f"{path}: policy_config: the path of a policy config file")
    salt = document.get("encryptionsalt")
    catalog_dir = document.get("catalog_dir")
    if catalog_dir is not None and (
        not isinstance(catalog_dir, str)
        or not catalog_dir.strip()
        or Path(catalog_dir).is_absolute()
        or ".." in Path(catalog_dir).parts
    ):
        raise FleetError(f"{path}: catalog_dir: a folder inside the project, like 'catalogs'")
    return FleetSettings(
        project_dir=project_dir,
        group_prefix=prefix,
        max_customers_per_group=size,
        policy_config=project_dir / policy,
        group_config=document["group_config"],
        encryptionsalt=salt if isinstance(salt, str) else None,
        customer=document["customer"],
        catalog_dir=catalog_dir,
    )


@dataclass(frozen=True)
class Group:
    name: str
    number: int
    path: Path

    def tenants(self) -> list[Mapping[str, Any]]:
        return tenants_of(read_group_document(self.path), self.path)

    def catalog(self) -> Path | None:
        """The catalog file listing the group's customers; None when they are inline."""
        return catalog_of(read_group_document(self.path), self.path)

    def customer_keys(self) -> list[str]:
        return [str(tenant.get("key")) for tenant in self.tenants()]


def group_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^Pulumi\.({re.escape(prefix)}(\d{{2,}}))\.yaml$")


def discover_groups(settings: FleetSettings) -> list[Group]:
    """Every group stack file of the project, oldest (lowest number) first."""
    pattern = group_pattern(settings.group_prefix)
    groups = []
    for path in settings.project_dir.iterdir():
        match = pattern.match(path.name)
        if match:
            groups.append(Group(match.group(1), int(match.group(2)), path))
    return sorted(groups, key=lambda group: group.number)


def group_name(settings: FleetSettings, number: int) -> str:
    return f"{settings.group_prefix}{number:02d}"


def read_group_document(path: Path) -> dict[str, Any]:
    try:
        document = read_stack_file(path)
    except ArchitectureError as error:
        raise FleetError(error.report().splitlines()[0]) from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise FleetError(f"{path.name}: not a stack file with a 'config:' mapping")
    return document


def catalog_of(document: Mapping[str, Any], path: Path) -> Path | None:
    value = document["config"].get(CATALOG)
    if value is None:
        return None
    try:
        return catalog_path(value, path.parent)
    except ArchitectureError as error:
        raise FleetError(f"{path.name}: {error.problems[0]}") from None


def tenants_of(document: Mapping[str, Any], path: Path) -> list[Mapping[str, Any]]:
    architecture = document["config"].get(ARCHITECTURE)
    if not isinstance(architecture, Mapping):
        raise FleetError(f"{path.name}: config: {ARCHITECTURE} is missing")
    catalog = catalog_of(document, path)
    if catalog is not None:
        try:
            return read_catalog(catalog, str(catalog.relative_to(path.parent)))
        except ArchitectureError as error:
            raise FleetError(error.report().replace("\n  - ", " ").splitlines()[0]) from None
    tenants = architecture.get("tenants") or []
    if not isinstance(tenants, list):
        raise FleetError(f"{path.name}: {ARCHITECTURE}.tenants: expected a list")
    return tenants


# --- a new customer -------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerSpec:
    key: str
    display_name: str
    area_code: str = DEFAULT_AREA_CODE


def customer_tenant(settings: FleetSettings, spec: CustomerSpec) -> dict[str, Any]:
    """The fleet's customer shape with the spec's values put in."""
    values = {"key": spec.key, "display_name": spec.display_name, "area_code": spec.area_code}

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            try:
                return node.format_map(values)
            except (KeyError, ValueError) as error:
                raise FleetError(f"{FLEET_FILE}: customer: {node!r}: {error}") from None
        if isinstance(node, Mapping):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(item) for item in node]
        return node

    return fill(settings.customer)


def new_group_document(settings: FleetSettings, tenant: Mapping[str, Any]) -> dict[str, Any]:
    config = {key: _copy(value) for key, value in settings.group_config.items()}
    architecture = dict(config.get(ARCHITECTURE) or {})
    architecture["tenants"] = [tenant]
    config[ARCHITECTURE] = architecture
    document: dict[str, Any] = {"config": config}
    if settings.encryptionsalt:
        document["encryptionsalt"] = settings.encryptionsalt
    return document


def new_catalog_group(
    settings: FleetSettings, tenant: Mapping[str, Any], name: str
) -> tuple[dict[str, Any], str]:
    """A new group's stack file naming its catalog, and the catalog's path in the project."""
    document = new_group_document(settings, tenant)
    del document["config"][ARCHITECTURE]["tenants"]
    catalog = f"{settings.catalog_dir}/{name}.yaml"
    document["config"][CATALOG] = catalog
    return document, catalog


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


HEADER = (
    "# A group of production customers (python -m fleet add-customer writes it; fleet.yaml).\n"
    "# A customer's group never changes: its Twilio objects' identity tags include this stack.\n"
)


def write_group(path: Path, document: Mapping[str, Any], stack: str) -> None:
    """Validated as `pulumi up` validates it, then put in place in one rename."""
    spare = path.with_name(f".{path.name}.new")
    spare.write_text(HEADER + yaml.safe_dump(dict(document), sort_keys=False, width=100))
    try:
        load_stack_config(spare, stack=stack)
    except ArchitectureError as error:
        spare.unlink()
        lines = error.report().splitlines()
        raise FleetError(f"{path.name} would be invalid: {' '.join(lines[1:2] or lines)}") from None
    os.replace(spare, path)


CATALOG_HEADER = (
    "# The customers of a group (python -m fleet add-customer writes it; fleet.yaml). Its stack\n"
    "# file names this catalog; a customer's group never changes.\n"
)


def write_catalog(
    settings: FleetSettings,
    stack_document: Mapping[str, Any],
    catalog: str,
    tenants: list[Mapping[str, Any]],
    stack: str,
) -> None:
    """The catalog of a group, validated with its stack file's config as `pulumi up` reads
    them, then put in place in one rename."""
    path = settings.project_dir / catalog
    path.parent.mkdir(parents=True, exist_ok=True)
    spare = path.with_name(f".{path.stem}.new{path.suffix}")
    spare.write_text(
        CATALOG_HEADER + yaml.safe_dump({"tenants": list(tenants)}, sort_keys=False, width=100)
    )
    config = {**stack_document["config"], CATALOG: str(spare.relative_to(settings.project_dir))}
    try:
        load_config_values(config, stack=stack, project_dir=settings.project_dir)
    except ArchitectureError as error:
        spare.unlink()
        lines = error.report().splitlines()
        raise FleetError(f"{catalog} would be invalid: {' '.join(lines[1:2] or lines)}") from None
    os.replace(spare, path)


def add_customer(settings: FleetSettings, spec: CustomerSpec) -> tuple[Group, bool]:
    """Put the customer in the newest group with room (or a new group); return the group and
    whether the group is new. Nothing is written when the customer is refused."""
    groups = discover_groups(settings)
    for group in groups:
        if spec.key in group.customer_keys():
            raise FleetError(
                f"customer '{spec.key}' is already in group {group.name} ({group.path.name}); "
                "a customer's group never changes"
            )
    tenant = customer_tenant(settings, spec)
    if groups:
        newest = groups[-1]
        document = read_group_document(newest.path)
        catalog = catalog_of(document, newest.path)
        if catalog is not None:
            tenants = [*tenants_of(document, newest.path), tenant]
            if has_room_for(settings, document, len(tenants)):
                relative = str(catalog.relative_to(settings.project_dir))
                write_catalog(settings, document, relative, tenants, newest.name)
                return newest, False
        else:
            tenants_of(document, newest.path).append(tenant)
            architecture = document["config"][ARCHITECTURE]
            architecture["tenants"] = tenants_of(document, newest.path)
            if has_room_after(settings, document, newest.path):
                write_group(newest.path, document, newest.name)
                return newest, False
    number = groups[-1].number + 1 if groups else 1
    name = group_name(settings, number)
    path = settings.project_dir / f"Pulumi.{name}.yaml"
    if settings.catalog_dir is None:
        write_group(path, new_group_document(settings, tenant), name)
    else:
        document, catalog_name = new_catalog_group(settings, tenant, name)
        write_catalog(settings, document, catalog_name, [tenant], name)
        try:
            write_group(path, document, name)
        except FleetError:
            (settings.project_dir / catalog_name).unlink()
            raise
    return Group(name, number, path), True


def has_room_after(settings: FleetSettings, document: Mapping[str, Any], path: Path) -> bool:
    """Whether a group still fits with the customer just appended to `document`."""
    return has_room_for(settings, document, len(tenants_of(document, path)))


def has_room_for(settings: FleetSettings, document: Mapping[str, Any], count: int) -> bool:
    """Whether a group of `count` customers with this stack file is within the limits (the
    config of a catalog group stays small whatever its size)."""
    if count > settings.max_customers_per_group:
        return False
    return config_environment_size(document["config"]) <= CONFIG_ENVIRONMENT_LIMIT
