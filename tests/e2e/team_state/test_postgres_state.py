"""The dev stack with its state in PostgreSQL (Pulumi v3.274.1's DIY backend, `postgres://`),
through the real CLI against the emulator: up, a no-change preview, refresh, destroy. Every
token and key secret stays encrypted in the database: the table is searched as stored and
base64-decoded, before and after destroy (history rows keep every old checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support.emulator_process import EmulatorProcess
from tests.support.estate import estate
from tests.support.postgres import pulumi_state_rows, pulumi_state_texts
from tests.support.pulumi_cli import PulumiWorkspace
from tests.support.reliability import (
    assert_exactly_declared,
    assert_no_plaintext_secrets,
    encodings,
    known_secrets,
    leaked_secrets,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

UP = ("up", "--yes", "--skip-preview")


def table_columns(database_url: str) -> dict[str, str]:
    parsed = make_url(database_url)
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
    ) as connection:
        rows = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'pulumi_state' ORDER BY ordinal_position"
        ).fetchall()
    return dict(rows)


def checkpoint(database_url: str, stack: str = "dev") -> dict:
    rows = pulumi_state_rows(database_url)
    [key] = [k for k in rows if k.endswith(f"/.pulumi/stacks/twilio-landing-zone/{stack}.json")]
    return json.loads(rows[key])


def test_dev_stack_lifecycle_with_state_in_postgres(
    team_dev: PulumiWorkspace, emulator: EmulatorProcess, state_database: str, tmp_path: Path
) -> None:
    team_dev.run(*UP)
    # The table Pulumi creates by itself on first use.
    assert table_columns(state_database) == {
        "key": "text",
        "data": "json",
        "updated_at": "timestamp with time zone",
    }
    resources = checkpoint(state_database)["checkpoint"]["latest"]["resources"]
    assert sum(r["type"] == "pulumi-python:dynamic/twilio:Subaccount" for r in resources) == 2
    assert_exactly_declared(team_dev, emulator)

    team_dev.run("preview", "--expect-no-changes")
    team_dev.run("refresh", "--yes", "--skip-preview")
    team_dev.run("preview", "--expect-no-changes")
    assert_exactly_declared(team_dev, emulator)

    # Secrets: the API key secrets are in state, as ciphertext only.
    secrets = known_secrets(team_dev, emulator)
    accounts = [
        (label.removeprefix("auth token of "), value)
        for label, value in secrets.items()
        if label.startswith("auth token of ")
    ]
    secrets |= encodings([(emulator.account_sid, emulator.auth_token), *accounts])
    assert sum(label.startswith("secret of key") for label in secrets) == 2, secrets.keys()
    stored = json.dumps(checkpoint(state_database))
    assert stored.count('"ciphertext"') >= 2
    searched = assert_no_plaintext_secrets(
        team_dev,
        emulator,
        [tmp_path / "dev" / "state", tmp_path / "dev" / "tmp"],
        extra=lambda: pulumi_state_texts(state_database),
    )
    assert searched > 10

    team_dev.run("destroy", "--yes", "--skip-preview")
    assert not checkpoint(state_database)["checkpoint"]["latest"].get("resources")
    assert all(a.status == "closed" for a in estate(emulator).values())
    # Destroyed, the stack's history, backups and `.bak` rows still hold every old checkpoint.
    texts = pulumi_state_texts(state_database)
    assert any("/.pulumi/history/" in label for label in texts)
    assert leaked_secrets(secrets, texts) == []
    assert leaked_secrets(secrets, {"destroy": team_dev.transcript[-1].output}) == []
