"""Runs an operation (preview, up, refresh) over the groups through the Automation API.

Each group is one stack with its own engine, program and provider, `concurrency` of them at a
time; one group's failure never stops another. Before the CLI is called, the group's stack
file and policy config are validated (one line naming the file and field when refused).

`up` skips a group whose last update succeeded with the inputs it has now (`inputs.py`), so
re-running after a failure or a Ctrl-C runs only what did not converge; `--all` runs every
group. A group a killed run left behind is repaired first (`resume.py`: checkpoint and stale
lock), and a group whose last run did not finish is refreshed with `--clear-pending-creates`
before its `up`, as `scripts/resume-stack` does.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi.automation as auto
from pulumi.automation.events import EngineEvent

from architecture.errors import ArchitectureError
from architecture.loading import PROJECT, load_stack_config
from fleet.catalog import FleetError, FleetSettings, Group
from fleet.command import Interrupted, SessionPulumiCommand
from fleet.environment import FleetEnvironment, open_backend_once
from fleet.group_stack import GroupStack
from fleet.inputs import MESSAGE_PREFIX, policy_config_of, update_message
from fleet.policy import check_policy_config
from fleet.progress import (
    DONE,
    FAILED,
    INTERRUPTED,
    NOT_STARTED,
    RUNNING,
    SKIPPED,
    Display,
    GroupOutcome,
)
from fleet.resume import prepare_group
from fleet.targets import FullRun, Targeted, plan_targets

OPERATIONS = ("preview", "up", "refresh")


@dataclass(frozen=True)
class RunOptions:
    operation: str
    concurrency: int
    run_all: bool = False  # up: also the groups that converged with these inputs
    parallel: int = 64  # resource operations at once within one group (`--parallel`)
    # preview/up: only the customers changed since this git ref, when provably safe
    # (fleet/targets.py), and the files that differ from it.
    base: str | None = None
    changed_files: tuple[str, ...] = ()


class FleetRunner:
    def __init__(
        self,
        settings: FleetSettings,
        groups: Sequence[Group],
        options: RunOptions,
        environment: FleetEnvironment,
        command: SessionPulumiCommand,
    ) -> None:
        self.settings = settings
        self.groups = list(groups)
        self.options = options
        self.environment = environment
        self.command = command
        self.outcomes = [GroupOutcome(group.name) for group in self.groups]
        self._lock = threading.Lock()

    def run(self, display_factory: Callable[[list[GroupOutcome]], Display]) -> list[GroupOutcome]:
        if self.options.concurrency > 1 and len(self.groups) > 1:
            # Engines opening an empty PostgreSQL backend together race to create its table.
            open_backend_once(self.command.command, self.environment)
        display = display_factory(self.outcomes)
        with display, ThreadPoolExecutor(self.options.concurrency, "fleet-group") as pool:
            futures = [
                pool.submit(self._run_group, group, outcome, display)
                for group, outcome in zip(self.groups, self.outcomes, strict=True)
            ]
            for future in futures:
                future.result()
        return self.outcomes

    # --- one group ----------------------------------------------------------------------------

    def _run_group(self, group: Group, outcome: GroupOutcome, display: Display) -> None:
        if self.command.stopping:
            outcome.state, outcome.note = NOT_STARTED, "the fleet was stopped before its turn"
            return
        outcome.state, outcome.started = RUNNING, time.monotonic()
        try:
            self._operate(group, outcome, display)
            if outcome.state == RUNNING:
                outcome.state = DONE
        except Interrupted:
            outcome.state = INTERRUPTED if outcome.phase else NOT_STARTED
            outcome.note = "stopped by Ctrl-C; re-run to resume it"
        except FleetError as error:
            outcome.state, outcome.note = FAILED, str(error)
        except auto.CommandError as error:
            if self.command.stopping:
                outcome.state = INTERRUPTED
                outcome.note = f"stopped by Ctrl-C during {outcome.phase}; re-run to resume it"
            else:
                outcome.state, outcome.note = FAILED, failure_reason(error, outcome)
        except Exception as error:  # a bug must cost one group, not the fleet's summary
            outcome.state = FAILED
            outcome.note = f"{type(error).__name__}: {error}".splitlines()[0]
        finally:
            outcome.finished = time.monotonic()
            display.group_finished(outcome)

    def _operate(self, group: Group, outcome: GroupOutcome, display: Display) -> None:
        policy_config = policy_config_of(self.settings, group.name)
        validate_inputs(group, policy_config)
        operation = self.options.operation
        if operation == "refresh":
            stack = self._select(group)
            if stack is None:
                outcome.state, outcome.note = SKIPPED, "not deployed yet: nothing to refresh"
                return
        else:
            stack = self._stack(group)
        on_event = self._events(outcome)
        policy_packs = [str(self.settings.project_dir / "policies")]
        policy_pack_configs = [str(policy_config)]
        if operation == "preview":
            targets = self._targets(group, outcome, lambda: last_result(stack))
            outcome.phase = "preview"
            previewed = stack.preview(
                parallel=self.options.parallel,
                on_event=on_event,
                policy_packs=policy_packs,
                policy_pack_configs=policy_pack_configs,
                suppress_progress=True,
                suppress_outputs=True,
                **targets,
            )
            outcome.changes.clear()
            outcome.changes.update({op_name(op): n for op, n in previewed.change_summary.items()})
            return
        if operation == "refresh":
            outcome.phase = "refresh"
            refreshed = stack.refresh(
                parallel=self.options.parallel,
                on_event=on_event,
                suppress_progress=True,
                suppress_outputs=True,
            )
            outcome.changes.clear()
            outcome.changes.update(refreshed.summary.resource_changes or {})
            return
        repairs = prepare_group(self.environment.backend_url, PROJECT, group.name)
        for line in repairs:
            display.say(f"{group.name}: {line}")
        message = update_message(self.settings, group)
        last = last_result(stack)
        if not self.options.run_all and not repairs and last == ("succeeded", message):
            outcome.state, outcome.note = SKIPPED, "converged with these inputs"
            return
        if repairs or (last is not None and last[0] != "succeeded"):
            outcome.phase = "refresh"
            stack.refresh(
                parallel=self.options.parallel,
                clear_pending_creates=True,
                on_event=on_event,  # its progress shows; the up clears the counts
                suppress_progress=True,
                suppress_outputs=True,
            )
            outcome.note = "resumed: refreshed with --clear-pending-creates first"
            targets = {}  # the state was repaired: only a full run proves convergence
        else:
            targets = self._targets(group, outcome, lambda: last)
        outcome.phase = "up"
        outcome.changes.clear()
        updated = stack.up(
            parallel=self.options.parallel,
            # Targeted or not, the inputs it converges to (fleet/targets.py says why).
            message=message,
            on_event=on_event,
            policy_packs=policy_packs,
            policy_pack_configs=policy_pack_configs,
            suppress_progress=True,
            suppress_outputs=True,
            **targets,
        )
        outcome.changes.clear()
        outcome.changes.update(updated.summary.resource_changes or {})

    def _targets(
        self,
        group: Group,
        outcome: GroupOutcome,
        last: Callable[[], tuple[str, str] | None],
    ) -> dict[str, Any]:
        """The Automation API's target arguments for a run of `group` against `--base`; none
        (a full run, its reason in the note) unless fleet/targets.py proves it safe."""
        base = self.options.base
        if base is None or self.options.run_all:
            return {}
        decision = plan_targets(self.settings, group, base, list(self.options.changed_files))
        if isinstance(decision, Targeted) and last() != ("succeeded", decision.base_message):
            decision = FullRun(f"its last `fleet up` did not converge it to {base}'s inputs")
        outcome.note = decision.describe(base)
        if isinstance(decision, FullRun):
            return {}
        return {"target": decision.targets(group.name), "target_dependents": True}

    def _workspace_options(self) -> auto.LocalWorkspaceOptions:
        env_vars = self.environment.for_groups(self._running_groups())
        if self.options.operation == "preview":
            # The engine otherwise waits for each Diff before the next registration's Check and
            # policy calls; a preview changes nothing, so its diffs may run beside them, as in
            # scripts/policy-check (why it is safe is said there). `up` keeps them in series.
            env_vars = {
                "PULUMI_PARALLEL_DIFF": os.environ.get("PULUMI_PARALLEL_DIFF", "true"),
                **env_vars,
            }
        return auto.LocalWorkspaceOptions(
            work_dir=str(self.settings.project_dir),
            pulumi_home=self.environment.pulumi_home,
            env_vars=env_vars,
            pulumi_command=self.command,
            secrets_provider="passphrase",
        )

    def _running_groups(self) -> int:
        return max(1, min(self.options.concurrency, len(self.groups)))

    def _stack(self, group: Group) -> auto.Stack:
        return GroupStack.open(group.name, self._workspace_options(), create=True)

    def _select(self, group: Group) -> auto.Stack | None:
        try:
            return GroupStack.open(group.name, self._workspace_options(), create=False)
        except auto.StackNotFoundError:
            return None

    def _events(self, outcome: GroupOutcome) -> Callable[[EngineEvent], None]:
        def on_event(event: EngineEvent) -> None:
            # A preview announces each step (pre events); up and refresh report it done.
            preview = outcome.phase == "preview"
            step = event.resource_pre_event if preview else event.res_outputs_event
            if not preview and step is not None and step.planning:
                step = None  # the preview that `up` runs first: announced, not done
            if step is not None and step.metadata.type != "pulumi:pulumi:Stack":
                with self._lock:
                    outcome.changes[op_name(step.metadata.op)] += 1
            policy = event.policy_event
            if policy is not None and policy.enforcement_level == "mandatory":
                name = (policy.resource_urn or "").rsplit("::", 1)[-1] or "the stack"
                first = policy.message.strip().splitlines()[0] if policy.message.strip() else ""
                outcome.violations.append(f"[mandatory] {policy.policy_name} ({name}): {first}")

        return on_event


def op_name(op: object) -> str:
    """An OpType, or the plain string some results carry."""
    return str(getattr(op, "value", op))


def validate_inputs(group: Group, policy_config: Path) -> None:
    """The group's stack file and policy config, checked before any CLI call."""
    try:
        load_stack_config(group.path, stack=group.name)
    except ArchitectureError as error:
        lines = error.report().splitlines()
        raise FleetError(f"{group.path.name}: {' '.join(lines[1:2] or lines)}".strip()) from None
    problems = check_policy_config(policy_config)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise FleetError(f"policy config refused: {problems[0]}{more}")


def last_result(stack: auto.Stack) -> tuple[str, str] | None:
    """(result, message) of the group's last run that changed it, refreshes that succeeded
    aside; None for a group never run."""
    for entry in stack.history(page_size=10):
        if entry.kind == "refresh" and entry.result == "succeeded":
            continue
        message = entry.message or ""
        return entry.result, message if message.startswith(MESSAGE_PREFIX) else ""
    return None


def failure_reason(error: auto.CommandError, outcome: GroupOutcome) -> str:
    """One line: the mandatory violations when the pack stopped it, else the CLI's error."""
    if outcome.violations:
        more = f" (and {len(outcome.violations) - 1} more)" if len(outcome.violations) > 1 else ""
        return outcome.violations[0] + more
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # A provider's exception names the resource and Twilio's error; the stack's own lines
    # ("update failed", "Resource monitor has terminated") only say that something failed.
    raised = [line for line in lines if _EXCEPTION_LINE.match(line)]
    errors = [
        line
        for line in lines
        if line.lower().startswith(("error:", "error "))
        and not any(generic in line.lower() for generic in _GENERIC_ERRORS)
    ]
    chosen = (raised or errors or lines[-1:] or ["pulumi failed"])[0]
    return chosen[:300]


_EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Failure): \S")
_GENERIC_ERRORS = ("update failed", "preview failed", "resource monitor has terminated")


def default_concurrency() -> int:
    """One group per core: each runs an engine, a program and a provider, mostly on CPU."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
