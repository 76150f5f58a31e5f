"""Does this checkout's program keep an estate that another checkout's program made exactly as
it is? Through the real CLI against the emulator, for each shipped stack:

    .venv/bin/python -m bench.same_state --baseline /path/to/a/checkout/of/main [--stacks prod,dev]

1. the baseline's program (its packages and `__main__.py`) runs `pulumi up`;
2. this checkout's program, on the same state, previews (the plan must be `N unchanged` and no
   stack output may change) and runs `pulumi up`;
3. the stack outputs (secrets shown) and every resource's inputs, outputs, parent, protection,
   secret outputs and dependencies are compared before and after.
Secrets are compared as secrets (each write re-encrypts them with a fresh nonce) and dependency
lists as sets (the SDK sends them from a Python set, in an order that changes from run to run).
Both programs run on this checkout's virtualenv, engine and provider host.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devkit.emulator_process import running_emulator
from devkit.program import BIN_DIR, PROGRAM_PACKAGES, VENV_DIR, copy_program

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # Pulumi's mark of a secret value
COMPARED = ("inputs", "outputs", "parent", "protect", "additionalSecretOutputs")
# The shipped stack files carry the salt of the documented local passphrase.
PASSPHRASE = "twilio-landing-zone-local"


class Cli:
    """This checkout's engine in one project directory, on a private file backend."""

    def __init__(self, project: Path, state: Path, emulator_url: str) -> None:
        self.project = project
        (state / "backend").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "TWILIO_"))}
        env.update(
            PATH=f"{BIN_DIR}:{VENV_DIR / 'bin'}:{env.get('PATH', '')}",
            PULUMI_BACKEND_URL=f"file://{state / 'backend'}",
            PULUMI_HOME=str(state / "home"),
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            TWILIO_EMULATOR_URL=emulator_url,
            NO_COLOR="1",
        )
        self.env = env

    def run(self, *args: str) -> str:
        completed = subprocess.run(
            [str(BIN_DIR / "pulumi"), *args, "--non-interactive"],
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=1800,
        )
        if completed.returncode != 0:
            raise SystemExit(f"pulumi {' '.join(args)} failed:\n{completed.stdout[-3000:]}")
        return completed.stdout

    def outputs(self) -> dict:
        return json.loads(self.run("stack", "output", "--json", "--show-secrets"))

    def resources(self) -> list[dict]:
        return json.loads(self.run("stack", "export"))["deployment"].get("resources") or []


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value:
            return "[secret]"
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def comparable(resources: list[dict]) -> dict[str, dict]:
    found = {}
    for resource in resources:
        entry = {key: plain(resource.get(key)) for key in COMPARED}
        entry["dependencies"] = sorted(resource.get("dependencies") or [])
        entry["propertyDependencies"] = {
            key: sorted(urns) for key, urns in (resource.get("propertyDependencies") or {}).items()
        }
        found[resource["urn"]] = entry
    return found


def differences(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    lines = [f"only before: {urn}" for urn in before.keys() - after.keys()]
    lines += [f"only after: {urn}" for urn in after.keys() - before.keys()]
    for urn in before.keys() & after.keys():
        lines += [
            f"{urn}: {key} differs" for key in before[urn] if before[urn][key] != after[urn][key]
        ]
    return lines


def check_stack(root: Path, baseline: Path, stack: str, emulator_url: str) -> list[str]:
    new = copy_program(root / "new")
    old = copy_program(root / "old")
    for package in PROGRAM_PACKAGES:
        shutil.rmtree(old / package)
        shutil.copytree(baseline / package, old / package)
    shutil.copy2(baseline / "__main__.py", old / "__main__.py")
    made = Cli(old, root / "state", emulator_url)
    kept = Cli(new, root / "state", emulator_url)
    made.run("stack", "init", stack, "--secrets-provider", "passphrase")
    made.run("up", "--yes", "--skip-preview")
    outputs_before = made.outputs()
    before = comparable(made.resources())
    kept.run("stack", "select", stack)
    preview = kept.run("preview", "--diff")
    plan = re.findall(r"(\d+ (?:to \w+|unchanged))", preview)
    changed_outputs = re.findall(r"^\s*[-+~]\s*(tenants|names|api_key_secrets)\s*:", preview, re.M)
    kept.run("up", "--yes")
    problems = differences(before, comparable(kept.resources()))
    if kept.outputs() != outputs_before:
        problems.append("the stack outputs differ")
    if plan != [f"{len(before) - 1} unchanged"]:  # every resource but the stack itself
        problems.append(f"the preview planned {plan}")
    problems += [f"the preview changes the output {name}" for name in changed_outputs]
    print(f"{stack}: preview {', '.join(plan)}; {len(before)} resources compared; "
          f"{'identical' if not problems else f'{len(problems)} differences'}")  # fmt: skip
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--stacks", default="prod,dev")
    args = parser.parse_args()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tlz-same-state-") as scratch:
        root = Path(scratch)
        with running_emulator(root / "emulator") as emulator:
            for stack in filter(None, args.stacks.split(",")):
                problems += check_stack(root / stack, args.baseline.resolve(), stack, emulator.url)
    print("\n".join(problems) or "same state: every stack identical")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
