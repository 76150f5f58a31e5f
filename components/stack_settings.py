"""The running stack's settings, read from the config Pulumi hands the program."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pulumi

from architecture import ArchitectureError, StackSettings, load_config_values
from components.exit_codes import BAIL_EXIT_CODE
from components.sdk_config import secret_config_keys, stack_config_values
from components.secrets_guard import guard_inputs, refusal
from twilio_access.credentials import (
    ACCOUNT_SID_KEY,
    AUTH_TOKEN_KEY,
    CredentialsError,
    describe_source,
)


def load_settings() -> StackSettings:
    """Validate the stack file's estate; a bad one stops the run with every problem named,
    before any resource is registered."""
    values = stack_config_values()
    secret_keys = secret_config_keys(values)
    try:
        return load_config_values(
            values,
            stack=pulumi.get_stack(),
            project=pulumi.get_project(),
            secret_keys=secret_keys,
        )
    except ArchitectureError as error:
        _stop(str(error))


def announce_credentials() -> None:
    """One line at the start of a run: which Twilio this stack talks to."""
    values = stack_config_values()
    try:
        notice = describe_source(
            account_sid=values.get(ACCOUNT_SID_KEY),
            token_configured=bool(values.get(AUTH_TOKEN_KEY)),
        )
    except CredentialsError as error:
        _stop(str(error))
    pulumi.log.info(notice)


def refuse_real_credentials_behind_the_local_passphrase() -> None:
    """Stop before anything is registered when real Twilio credentials are configured and
    the stack's secrets use the passphrase the README prints (components/secrets_guard.py)."""
    values = stack_config_values()
    stack = pulumi.get_stack()
    problem = refusal(guard_inputs(values, stack, Path.cwd()), stack)
    if problem:
        _stop(problem)


def _stop(message: str) -> NoReturn:
    """Report the problem once, readable, and end the run before anything is registered."""
    pulumi.log.error(message)
    raise SystemExit(BAIL_EXIT_CODE)
