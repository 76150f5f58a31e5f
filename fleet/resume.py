"""Before a group's `up`: what `scripts/resume-stack` checks after a killed run, reused as is.

scripts/resume_stack.py puts back a checkpoint the kill emptied (file backend) and removes the
group's lock only when the run that wrote it is provably gone; a live holder or another host's
lock stops this group (never the fleet) with resume-stack's own one line. The refresh with
`--clear-pending-creates` that follows is the fleet's to run, through the Automation API.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from fleet.catalog import FleetError

RESUME_STACK = Path(__file__).resolve().parents[1] / "scripts" / "resume_stack.py"
# resume_stack reports through its module-level `say`; groups are prepared one at a time so
# each collects its own lines.
_ONE_AT_A_TIME = threading.Lock()


@cache
def resume_stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tlz_resume_stack", RESUME_STACK)
    if spec is None or spec.loader is None:
        raise FleetError(f"cannot load {RESUME_STACK}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def prepare_group(backend_url: str, project: str, group: str) -> list[str]:
    """Make a group that a killed run left behind runnable again. Returns what was done (empty
    when the group was clean or does not exist yet); FleetError when it must not run now."""
    # Loaded from its file: what it defines (`say` included) is unknown to the type checker.
    module: Any = resume_stack()
    said: list[str] = []
    store = None
    with _ONE_AT_A_TIME:
        original_say = module.say
        module.say = said.append
        try:
            store = module.open_store(backend_url)
            scoped = module.project_scoped(store)
            ref = module.StackRef(project, group)
            present = [key for key in ref.checkpoint_keys(scoped) if store.read(key) is not None]
            if not present:
                return []  # a new group: nothing to repair
            module.repair_checkpoint(store, ref, scoped)
            module.clear_stale_locks(store, ref, scoped)
        except module.ResumeError as error:
            raise FleetError(str(error)) from None
        finally:
            module.say = original_say
            connection = getattr(store, "_connection", None)
            if connection is not None:
                connection.close()
    return said
