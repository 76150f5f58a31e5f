"""Drive the real `pulumi` CLI from tests: a project directory, a private file backend,
a passphrase, and every command's combined output kept for assertions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = REPO_ROOT / ".bin"
VENV_DIR = REPO_ROOT / ".venv"


# What the program and its providers import, copied beside a test's copy of the program.
PROGRAM_PACKAGES = ("architecture", "components", "providers")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


PROVIDER_HOST_DIR = REPO_ROOT / "tools" / "provider_host"


def write_pulumi_yaml(project_dir: Path, name: str = "twilio-landing-zone") -> None:
    """The repo's Pulumi.yaml names `.venv` and the provider host relative to the project; a
    copy elsewhere points at the checkout's instead."""
    (project_dir / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {VENV_DIR}\n"
        f"plugins:\n  providers:\n    - name: pulumi-python\n      path: {PROVIDER_HOST_DIR}\n"
    )


def copy_program(project_dir: Path, *, main: Path | None = None, stack_files: bool = True) -> Path:
    """A copy of the landing-zone program (or of another `__main__.py` that uses its
    packages) in `project_dir`, so a test may edit its stack files freely."""
    project_dir.mkdir(parents=True, exist_ok=True)
    for package in PROGRAM_PACKAGES:
        shutil.copytree(REPO_ROOT / package, project_dir / package, ignore=_IGNORED)
    (project_dir / "emulator").mkdir()
    for name in ("__init__.py", "defaults.py"):
        shutil.copy2(REPO_ROOT / "emulator" / name, project_dir / "emulator" / name)
    shutil.copy2(main or REPO_ROOT / "__main__.py", project_dir / "__main__.py")
    if stack_files:
        for stack_file in REPO_ROOT.glob("Pulumi.*.yaml"):
            shutil.copy2(stack_file, project_dir / stack_file.name)
    write_pulumi_yaml(project_dir)
    return project_dir


def pulumi_executable() -> str:
    """The checkout's engine (make setup); a missing engine is a failure, never a skip."""
    candidate = BIN_DIR / "pulumi"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("pulumi")
    if found is None:
        raise RuntimeError("no pulumi CLI: run `make setup` (the tests need the real engine)")
    return found


@dataclass
class CommandResult:
    args: list[str]
    returncode: int
    output: str

    def __str__(self) -> str:
        return f"$ pulumi {' '.join(self.args)}  (exit {self.returncode})\n{self.output}"


@dataclass
class PulumiWorkspace:
    """One project directory plus an isolated backend under `state_dir`."""

    project_dir: Path
    state_dir: Path
    # The shipped stack files carry the salt of the documented local passphrase.
    passphrase: str = "twilio-landing-zone-local"
    extra_env: dict[str, str] = field(default_factory=dict)
    transcript: list[CommandResult] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PULUMI_", "TWILIO_"))
        }
        env.update(
            {
                "PATH": f"{BIN_DIR}:{VENV_DIR / 'bin'}:{env.get('PATH', '')}",
                "PULUMI_BACKEND_URL": f"file://{self.state_dir / 'backend'}",
                "PULUMI_HOME": str(self.state_dir / "home"),
                "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                "PULUMI_SKIP_CONFIRMATIONS": "true",
                "NO_COLOR": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> CommandResult:
        (self.state_dir / "backend").mkdir(parents=True, exist_ok=True)
        command = [pulumi_executable(), *args, "--non-interactive", "--color", "never"]
        completed = subprocess.run(
            command,
            cwd=self.project_dir,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        result = CommandResult(list(args), completed.returncode, completed.stdout)
        self.transcript.append(result)
        if check and completed.returncode != 0:
            raise AssertionError(f"pulumi command failed:\n{result}")
        return result

    def init_stack(self, name: str) -> None:
        self.run("stack", "select", "--create", name, "--secrets-provider", "passphrase")

    def set_config(self, key: str, value: str, *, secret: bool = False) -> None:
        flag = ["--secret"] if secret else ["--plaintext"]
        self.run("config", "set", key, value, *flag)

    def outputs(self, *, show_secrets: bool = False) -> dict:
        flags = ["--show-secrets"] if show_secrets else []
        return json.loads(self.run("stack", "output", "--json", *flags).output)

    def resources(self, type_token: str | None = None) -> list[dict]:
        """The stack's resources as `pulumi stack export` shows them (secrets stay encrypted)."""
        exported = json.loads(self.run("stack", "export").output)
        resources = exported["deployment"].get("resources") or []
        return [r for r in resources if type_token is None or r["type"] == type_token]

    def state_files(self) -> list[Path]:
        return sorted((self.state_dir / "backend").rglob("*.json"))

    def state_text(self) -> str:
        return "\n".join(path.read_text() for path in self.state_files())

    def all_output(self) -> str:
        return "\n".join(result.output for result in self.transcript)
