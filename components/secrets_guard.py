"""Real Twilio credentials never sit behind the passphrase printed in the README.

The local demo encrypts its (emulator) secrets with `twilio-landing-zone-local`; the stack
file that holds them is normally committed. Once real credentials are configured, that would
put a real auth token one documented passphrase away from anyone who reads the repository.
The check lives in the program, so a bare `pulumi up` or `pulumi preview` is covered, not only
the make targets, and it decrypts nothing: credentials are recognised by config key names, by
environment variable names and by the account SID (not a secret), the secrets provider by the
stack file's own keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from architecture import ArchitectureError, read_stack_file
from twilio_access.credentials import ACCOUNT_SID_KEY, AUTH_TOKEN_KEY
from twilio_access.dev_defaults import DEV_ACCOUNT_SID

# The passphrase the README and the Makefile give for the local emulator demo.
DOCUMENTED_LOCAL_PASSPHRASE = "twilio-landing-zone-local"
# Environment variables that give the providers real credentials (TWILIO_EMULATOR_URL does not).
CREDENTIAL_VARIABLES = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_KEY",
    "TWILIO_API_SECRET",
)


@dataclass(frozen=True)
class GuardInputs:
    config: Mapping[str, object]
    environ: Mapping[str, str]
    stack_file: Mapping[str, object]


def real_credentials(config: Mapping[str, object], environ: Mapping[str, str]) -> str | None:
    """What makes this run talk to a real Twilio account, or None on the emulator path."""
    if config.get(AUTH_TOKEN_KEY) is not None:
        return f"{AUTH_TOKEN_KEY} is configured"
    sid = config.get(ACCOUNT_SID_KEY)
    if sid and sid != DEV_ACCOUNT_SID:
        return f"{ACCOUNT_SID_KEY} is {sid}, not the emulator's development account"
    present = [name for name in CREDENTIAL_VARIABLES if environ.get(name)]
    if present:
        return f"{', '.join(present)} {'is' if len(present) == 1 else 'are'} set"
    return None


def uses_passphrase_provider(stack_file: Mapping[str, object]) -> bool:
    """Pulumi records the passphrase provider in the stack file (`encryptionsalt:`, or
    `secretsprovider: passphrase`); any other provider names itself there instead, and a
    stack with neither uses its backend's own (Pulumi Cloud)."""
    provider = str(stack_file.get("secretsprovider") or "")
    if provider:
        return provider.startswith("passphrase")
    return bool(stack_file.get("encryptionsalt"))


def uses_documented_passphrase(environ: Mapping[str, str]) -> bool:
    if environ.get("PULUMI_CONFIG_PASSPHRASE") is not None:
        return environ["PULUMI_CONFIG_PASSPHRASE"] == DOCUMENTED_LOCAL_PASSPHRASE
    path = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if not path:
        return False
    try:
        return Path(path).read_text(encoding="utf-8").strip() == DOCUMENTED_LOCAL_PASSPHRASE
    except OSError:
        return False


def refusal(inputs: GuardInputs, stack: str) -> str | None:
    """One line when real credentials would be protected by the documented passphrase."""
    reason = real_credentials(inputs.config, inputs.environ)
    if reason is None:
        return None
    if not (
        uses_passphrase_provider(inputs.stack_file) and uses_documented_passphrase(inputs.environ)
    ):
        return None
    return (
        f"Real Twilio credentials ({reason}) must not be encrypted with the documented local "
        f"passphrase '{DOCUMENTED_LOCAL_PASSPHRASE}': set a passphrase of your own "
        "(export PULUMI_CONFIG_PASSPHRASE=... and run `pulumi stack change-secrets-provider "
        f"passphrase --stack {stack}`) or use another secrets provider (`pulumi stack "
        f"change-secrets-provider awskms://...|azurekeyvault://...|gcpkms://...|hashivault://... "
        f"--stack {stack}`); nothing was changed."
    )


def stack_file_of(project_dir: Path, stack: str) -> Mapping[str, object]:
    """The stack file's top-level keys (read with Pulumi's rules); empty when absent."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return {}
    try:
        document = read_stack_file(path)
    except ArchitectureError:
        return {}  # the architecture check reports a malformed file with its own words
    return document if isinstance(document, Mapping) else {}


def guard_inputs(config: Mapping[str, object], stack: str, project_dir: Path) -> GuardInputs:
    return GuardInputs(config, os.environ, stack_file_of(project_dir, stack))
