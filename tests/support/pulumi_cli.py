"""Drive the real `pulumi` CLI from tests: a project directory, a private file backend,
a passphrase, and every command's combined output kept for assertions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# The program copier lives in devkit/program.py (bench uses it too); tests import it from here.
from devkit.program import (  # noqa: F401
    BIN_DIR,
    PROGRAM_PACKAGES,
    PROVIDER_HOST_DIR,
    REPO_ROOT,
    VENV_DIR,
    copy_program,
    write_pulumi_yaml,
)


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
