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
ENGINE_LOGS_VARIABLE = "TLZ_FLEET_ENGINE_LOGS"
_ENGINE_LOGS_OFF = """\
Not a directory, on purpose: `python -m fleet` put this file here so that Pulumi's engines,
which write an automatic debug log of every step to $PULUMI_HOME/logs/ and have no setting to
stop it, cannot open one (the CLI then runs without it). That log cost about a sixth of each
engine's CPU in `fleet up` (README "Operating at scale"). Delete this file, or run the fleet
with TLZ_FLEET_ENGINE_LOGS=on, to have the logs again (e.g. for `pulumi logs share`).
"""
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
    notes: tuple[str, ...] = ()  # one line each, for the operator at the start of a run

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
    if environ.get(ENGINE_LOGS_VARIABLE) == "on":
        notes = engine_logs_on(Path(home))
    else:
        notes = engine_logs_off(Path(home))
    return FleetEnvironment(project_dir, backend, home, max(1, budget), base, notes)


def engine_logs_off(home: Path) -> tuple[str, ...]:
    """Keep the engines of `home` from writing Pulumi's automatic debug log.

    Pulumi 3.274 logs every engine step (V-level lines with resource properties, gzipped and
    encrypted) to `$PULUMI_HOME/logs/`, whatever the verbosity, and no setting turns it off;
    when that directory cannot be created the CLI says so at debug level and runs without the
    log. For the fleet's engines it was about a sixth of their CPU (`pulumi up --profiling`,
    one group of 100 customers: 5.1-5.6 s with the log, 4.4 s without). A file named `logs`
    in the home is what keeps it off, and explains itself to whoever finds it. A `logs`
    directory that is already there (an earlier run's) is left alone: its logs are someone's.
    """
    logs = home / "logs"
    if logs.is_dir():
        return (
            f"Pulumi's engine debug logs stay on: {logs} is a directory (remove it to run the "
            f"engines without them, or set {ENGINE_LOGS_VARIABLE}=on to keep them, unsaid)",
        )
    if not logs.exists():
        with contextlib.suppress(OSError):
            logs.write_text(_ENGINE_LOGS_OFF)
    return ()


def engine_logs_on(home: Path) -> tuple[str, ...]:
    """Undo `engine_logs_off`: only the file it wrote is removed."""
    logs = home / "logs"
    with contextlib.suppress(OSError):
        if logs.is_file() and logs.read_text().startswith(_ENGINE_LOGS_OFF[:30]):
            logs.unlink()
    return ()


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
