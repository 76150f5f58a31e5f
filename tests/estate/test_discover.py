"""`python -m estate discover` against the seeded legacy estate: a stack file that adopts every
object the model can express, lists the rest with the reason, validates, never overwrites
without --force, and writes nothing to Twilio."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from architecture import fields, identity, loading
from estate import discover as discovery
from tests.estate.support import CREDENTIAL_VARIABLES, seeded_emulator, writes
from tests.support.emulator_process import REPO_ROOT, EmulatorProcess, running_emulator

ARCHITECTURE = "twilio-landing-zone:architecture"


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with seeded_emulator(tmp_path_factory.mktemp("legacy")) as emulator:
        yield emulator


def run(*args: str, emulator_url: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    environ["TWILIO_EMULATOR_URL"] = emulator_url
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=environ, capture_output=True, text=True
    )


def discover(emulator: EmulatorProcess, folder: Path, *extra: str):
    return run(
        "estate", "discover", "--stack", "legacy", "--dir", str(folder), *extra,
        emulator_url=emulator.url,
    )  # fmt: skip


def test_discover_writes_a_valid_stack_file_that_adopts_the_estate(
    legacy: EmulatorProcess, tmp_path: Path
) -> None:
    writes_before = writes(legacy.stats())
    done = discover(legacy, tmp_path)
    assert done.returncode == 0, done.stderr
    assert writes(legacy.stats()) == writes_before
    path = tmp_path / "Pulumi.legacy.yaml"
    validated = run("architecture", "validate", str(path), emulator_url=legacy.url)
    assert validated.returncode == 0, validated.stderr

    text = path.read_text()
    architecture = yaml.safe_load(text)["config"][ARCHITECTURE]
    tenants = {tenant["key"]: tenant for tenant in architecture["tenants"]}
    # Active subaccounts only, keys derived from their names.
    assert set(tenants) == {"acme-corp", "bayside-dental-prod", "test-account"}
    assert tenants["acme-corp"]["display_name"] == "Acme Corp"
    assert tenants["test-account"]["environment"] == "development"
    # Services with every setting read back, their numbers and webhooks; keys by name.
    [alerts] = tenants["acme-corp"]["services"]
    assert alerts["friendly_name"] == "Acme alerts"
    assert alerts["webhooks"]["status_callback"] == "http://hooks.acme.example.com/twilio/status"
    assert set(alerts) >= {"sticky_sender", "validity_period", "scan_message_content"}
    assert [k["friendly_name"] for k in tenants["acme-corp"]["api_keys"]] == [
        "acme web",
        "acme worker",
    ]
    [promo_key] = tenants["bayside-dental-prod"]["api_keys"]
    assert promo_key["kind"] == "restricted"
    # Every object's SID under adopt, one per resource.
    adopt = architecture["adopt"]
    assert len(adopt) == 12
    assert len(set(adopt.values())) == 12
    [number] = alerts["senders"]["phone_numbers"]["numbers"]
    assert adopt[f"acme-corp-num-{number.lstrip('+')}"].startswith("PN")

    # What the model cannot express: listed with the reason, never dropped silently.
    header = text.split("config:", 1)[0]
    for expected in (
        "parent: service 'Main messaging'",
        "parent: number +14152000000",
        "parent: number +15102000000",
        "parent: API key 'legacy backend'",
        "acme-corp: service 'Acme reminders'",
        "a second service for 'notifications'",
        "acme-corp: number +16462000000",
        "in no service",
        "account 'Old pilot'",
        "account 'Churned customer'",
    ):
        assert expected in header, header


def test_discover_never_overwrites_without_force(legacy: EmulatorProcess, tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.legacy.yaml"
    path.write_text("config: {}\n")
    refused = discover(legacy, tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        f"discover: {path} exists; pass --force to overwrite it"
    )
    assert path.read_text() == "config: {}\n"
    forced = discover(legacy, tmp_path, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "adopt:" in path.read_text()


def test_a_large_estate_is_split_into_stacks_that_each_validate(tmp_path: Path) -> None:
    with seeded_emulator(
        tmp_path / "scale", "scale", "--subaccounts", "400", "--numbers", "800"
    ) as emulator:
        done = run(
            "estate", "discover", "--stack", "isv", "--dir", str(tmp_path),
            emulator_url=emulator.url,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    files = sorted(tmp_path.glob("Pulumi.isv-g*.yaml"))
    assert len(files) >= 2
    keys: list[str] = []
    for path in files:
        settings = loading.load_stack_config(path)
        keys += [tenant.key for tenant in settings.architecture.tenants]
    assert len(keys) == len(set(keys)) == 400


def test_discovery_states_the_models_names_and_limits_as_architecture_does() -> None:
    # estate may not import architecture (its layer): what it restates is held equal here.
    assert discovery.USE_CASES == fields.USE_CASES
    assert discovery.ENVIRONMENTS == fields.ENVIRONMENTS
    assert discovery.CONFIG_ENVIRONMENT_LIMIT == loading.CONFIG_ENVIRONMENT_LIMIT
    assert discovery.MAX_VALIDITY_PERIOD == fields.MAX_VALIDITY_PERIOD
    assert discovery.key_resource("a", "b") == identity.api_key_logical_name("a", "b")
    assert discovery.service_resource("a", "poll") == identity.service_logical_name("a", "poll")
    assert discovery.number_resource("a", "+14155550100") == identity.exact_number_logical_name(
        "a", "+14155550100"
    )
    architecture = {"style": "direct", "environments": ["production"], "tenants": []}
    assert discovery.config_size(architecture) == loading.config_environment_size(
        {f"{loading.PROJECT}:architecture": architecture}
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [("Acme Corp", "acme-corp"), ("42 Labs", "tenant-42-labs"), ("Ünïcode & Co", "n-code-co")],
)
def test_tenant_keys_are_slugs_the_model_accepts(name: str, key: str) -> None:
    derived = discovery.slug(name, "tenant")
    assert derived == key
    assert fields.lowercase_slug(derived) == derived


def test_an_account_without_subaccounts_is_said_in_one_line(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "empty") as emulator:
        done = discover(emulator, tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("discover: the account has no active subaccount to adopt")
    )
    assert not (tmp_path / "Pulumi.legacy.yaml").exists()
