"""The environment every group's `pulumi` runs with, and the parent account's budget.

Defaults are the Makefile's (a file backend in the project's `.state/backend`, the documented
local passphrase), so `python -m fleet` and `make` see the same state; PULUMI_BACKEND_URL and
PULUMI_CONFIG_PASSPHRASE from the environment win, e.g. the team's PostgreSQL state.

Twilio's limits are per account. Each customer's subaccount belongs to one group, but every
group signs with the parent account, so the parent's in-flight budget is split across the
groups that run at once: each group's providers read their share from TLZ_PARENT_IN_FLIGHT.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from fleet.command import ROOT

DEFAULT_PASSPHRASE = "twilio-landing-zone-local"
DEFAULT_PARENT_IN_FLIGHT = 32
PARENT_BUDGET_VARIABLE = "TLZ_FLEET_PARENT_IN_FLIGHT"
PARENT_SHARE_VARIABLE = "TLZ_PARENT_IN_FLIGHT"


@dataclass(frozen=True)
class FleetEnvironment:
    project_dir: Path
    backend_url: str
    pulumi_home: str
    parent_in_flight: int
    base: dict[str, str] = field(default_factory=dict)

    def for_groups(self, running: int) -> dict[str, str]:
        share = max(1, self.parent_in_flight // max(1, running))
        return {**self.base, PARENT_SHARE_VARIABLE: str(share)}


def fleet_environment(project_dir: Path, parent_in_flight: int | None) -> FleetEnvironment:
    environ = os.environ
    backend = environ.get("PULUMI_BACKEND_URL") or f"file://{project_dir / '.state' / 'backend'}"
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://").split("?", 1)[0]).mkdir(parents=True, exist_ok=True)
    home = environ.get("PULUMI_HOME") or str(project_dir / ".state" / "pulumi-home")
    Path(home).mkdir(parents=True, exist_ok=True)
    budget = parent_in_flight
    if budget is None:
        budget = int(environ.get(PARENT_BUDGET_VARIABLE) or DEFAULT_PARENT_IN_FLIGHT)
    base = {
        "PATH": f"{ROOT / '.bin'}{os.pathsep}{ROOT / '.venv' / 'bin'}{os.pathsep}"
        + environ.get("PATH", ""),
        "PULUMI_BACKEND_URL": backend,
        "PULUMI_HOME": home,
        "PULUMI_CONFIG_PASSPHRASE": environ.get("PULUMI_CONFIG_PASSPHRASE", DEFAULT_PASSPHRASE),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The state is written once per run, not after every step (README "Operating at
        # scale": safe because every create adopts its tagged object; `fleet up` resumes).
        "PULUMI_SKIP_CHECKPOINTS": environ.get("PULUMI_SKIP_CHECKPOINTS", "true"),
        "TLZ_PROVIDER_WORKERS": environ.get("TLZ_PROVIDER_WORKERS", "64"),
    }
    return FleetEnvironment(project_dir, backend, home, max(1, budget), base)


def open_backend_once(pulumi: str, environment: FleetEnvironment) -> None:
    """Open the state backend with one `pulumi` before the groups open it side by side.

    A PostgreSQL backend creates its table when it is first opened, with `CREATE TABLE IF NOT
    EXISTS`, which PostgreSQL does not make safe between sessions running it at once: on an
    empty database, one of several engines starting together fails with 23505 on `pg_type`
    (3 of 20 fresh databases with 3 engines, measured). Opened once first, the table exists
    for all of them. A file backend needs nothing. The answer is not needed: a backend that
    cannot be opened fails each group with the CLI's own error, named in the summary."""
    if environment.backend_url.startswith("file://"):
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [pulumi, "stack", "ls", "--all", "--json"],
            cwd=environment.project_dir,
            env={**os.environ, **environment.for_groups(1)},
            capture_output=True,
            timeout=120,
            check=False,
        )
