"""`python -m fleet status`: where each group stands, from the backend alone (no Twilio call,
no program run): resources, the last run and whether it converged with the current inputs,
and a lock left by a run."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pulumi.automation as auto

from architecture.loading import PROJECT
from fleet.catalog import FleetError, FleetSettings, Group
from fleet.command import SessionPulumiCommand
from fleet.environment import FleetEnvironment
from fleet.inputs import update_message
from fleet.resume import resume_stack


@dataclass(frozen=True)
class GroupStatus:
    group: str
    customers: int
    resources: str
    last_run: str
    state: str

    @property
    def converged(self) -> bool:
        return self.state == "converged"


def group_statuses(
    settings: FleetSettings,
    groups: Sequence[Group],
    environment: FleetEnvironment,
    command: SessionPulumiCommand,
    concurrency: int,
) -> list[GroupStatus]:
    workspace = auto.LocalWorkspace(
        work_dir=str(settings.project_dir),
        pulumi_home=environment.pulumi_home,
        env_vars=environment.for_groups(1),
        pulumi_command=command,
    )
    deployed = {summary.name: summary for summary in workspace.list_stacks()}

    def one(group: Group) -> GroupStatus:
        customers = len(group.customer_keys())
        summary = deployed.get(group.name)
        if summary is None:
            return GroupStatus(group.name, customers, "-", "-", "not deployed")
        locked = lock_holder(environment.backend_url, group.name)
        stack = auto.Stack.select(group.name, workspace)
        history = [entry for entry in stack.history(page_size=10) if entry.kind != "refresh"]
        resources = str(summary.resource_count) if summary.resource_count is not None else "?"
        if not history:
            return GroupStatus(group.name, customers, resources, "-", locked or "never updated")
        last = history[0]
        when = last.end_time.strftime("%Y-%m-%d %H:%M") if last.end_time else "running"
        last_run = f"{last.kind} {last.result} {when}"
        if locked:
            state = locked
        elif last.result != "succeeded":
            state = "did not converge: `fleet up` resumes it"
        elif (last.message or "") != update_message(settings, group):
            state = "inputs changed since: `fleet up` applies them"
        else:
            state = "converged"
        return GroupStatus(group.name, customers, resources, last_run, state)

    with ThreadPoolExecutor(max(1, concurrency), "fleet-status") as pool:
        return list(pool.map(one, groups))


def lock_holder(backend_url: str, group: str) -> str:
    """'' when the group is not locked; else who holds it, as resume-stack describes it."""
    module = resume_stack()
    try:
        store = module.open_store(backend_url)
        scoped = module.project_scoped(store)
        ref = module.StackRef(PROJECT, group)
        locks = [module.read_lock(store, key) for key in store.keys(ref.lock_prefix(scoped))]
    except module.ResumeError as error:
        raise FleetError(str(error)) from None
    finally:
        connection = getattr(locals().get("store"), "_connection", None)
        if connection is not None:
            connection.close()
    locks = [lock for lock in locks if lock is not None]
    if not locks:
        return ""
    alive = any(module.holder_is_alive(lock) for lock in locks)
    kind = "running" if alive else "stale lock of a killed run: `fleet up` resumes it"
    return f"locked ({kind}; {locks[0].describe()})"


def status_table(statuses: Sequence[GroupStatus]) -> str:
    rows = [("group", "customers", "resources", "last run", "state")]
    rows += [(s.group, str(s.customers), s.resources, s.last_run, s.state) for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
