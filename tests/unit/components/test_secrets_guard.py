"""Real credentials behind the documented local passphrase: refused by the program itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.secrets_guard import (
    DOCUMENTED_LOCAL_PASSPHRASE,
    GuardInputs,
    real_credentials,
    refusal,
    stack_file_of,
    uses_passphrase_provider,
)
from emulator.defaults import DEV_ACCOUNT_SID

REAL_SID = "AC0123456789abcdef0123456789abcdef"
PASSPHRASE_STACK = {"encryptionsalt": "v1:c2FsdA==:v1:bm9uY2U=:Y2hlY2s="}
DEFAULT_PASSPHRASE = {"PULUMI_CONFIG_PASSPHRASE": DOCUMENTED_LOCAL_PASSPHRASE}


@pytest.mark.parametrize(
    ("config", "environ", "reason"),
    [
        ({"twilio:authToken": "decrypted"}, {}, "twilio:authToken is configured"),
        ({"twilio:accountSid": REAL_SID}, {}, f"twilio:accountSid is {REAL_SID}"),
        ({}, {"TWILIO_AUTH_TOKEN": "x"}, "TWILIO_AUTH_TOKEN is set"),
        ({}, {"TWILIO_ACCOUNT_SID": REAL_SID, "TWILIO_AUTH_TOKEN": "x"}, "are set"),
    ],
)
def test_real_credentials_are_recognised_without_reading_a_secret(
    config: dict, environ: dict, reason: str
) -> None:
    found = real_credentials(config, environ)
    assert found is not None and reason in found


def test_the_emulator_path_is_not_real_credentials() -> None:
    assert real_credentials({}, {"TWILIO_EMULATOR_URL": "http://127.0.0.1:4010"}) is None
    assert real_credentials({"twilio:accountSid": DEV_ACCOUNT_SID}, {}) is None


def test_real_credentials_with_the_documented_passphrase_stop_the_run_in_one_line() -> None:
    inputs = GuardInputs({"twilio:authToken": "t"}, DEFAULT_PASSPHRASE, PASSPHRASE_STACK)
    message = refusal(inputs, "prod")
    assert message is not None and "\n" not in message
    assert "twilio:authToken is configured" in message
    assert "PULUMI_CONFIG_PASSPHRASE" in message and "change-secrets-provider" in message
    assert "--stack prod" in message


def test_the_passphrase_file_counts_as_the_passphrase(tmp_path: Path) -> None:
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(DOCUMENTED_LOCAL_PASSPHRASE + "\n")
    environ = {"PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase_file), "TWILIO_AUTH_TOKEN": "t"}
    assert refusal(GuardInputs({}, environ, PASSPHRASE_STACK), "prod") is not None


@pytest.mark.parametrize(
    ("config", "environ", "stack_file"),
    [
        # The emulator with the documented passphrase: the demo path.
        ({}, DEFAULT_PASSPHRASE, PASSPHRASE_STACK),
        # Real credentials with a passphrase of one's own.
        ({"twilio:authToken": "t"}, {"PULUMI_CONFIG_PASSPHRASE": "mine"}, PASSPHRASE_STACK),
        # Real credentials with another secrets provider (the passphrase is never used).
        ({"twilio:authToken": "t"}, DEFAULT_PASSPHRASE, {"secretsprovider": "awskms://alias/x"}),
        # Pulumi Cloud's own secrets: the stack file names no provider.
        ({"twilio:authToken": "t"}, DEFAULT_PASSPHRASE, {}),
    ],
)
def test_allowed_combinations(config: dict, environ: dict, stack_file: dict) -> None:
    assert refusal(GuardInputs(config, environ, stack_file), "prod") is None


def test_the_provider_is_read_from_the_stack_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "encryptionsalt: v1:abc\nconfig:\n  twilio-landing-zone:collectorUrl: https://x\n"
    )
    assert uses_passphrase_provider(stack_file_of(tmp_path, "prod"))
    assert stack_file_of(tmp_path, "absent") == {}
    assert uses_passphrase_provider({"secretsprovider": "passphrase"})
    assert not uses_passphrase_provider({"secretsprovider": "gcpkms://projects/p/keys/k"})
