"""Provider tests: the providers' own create/read/update/delete/diff, called directly (as the
engine's provider process would) against one emulator for the module."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from identity_tags import friendly_name
from tests.support.emulator_process import EmulatorProcess, running_emulator


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    workdir: Path = tmp_path_factory.mktemp("emulator")
    with running_emulator(workdir, extra_args=["--lifecycle-step-ms", "20"]) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_faults(emulator: EmulatorProcess) -> Iterator[None]:
    yield
    emulator.reset_faults()


@pytest.fixture(autouse=True)
def new_run() -> Callable[[], None]:
    """Each test starts as a new provider process does; call it to start another run (what
    this process created no longer counts as just created)."""
    from providers.created_here import CREATED_HERE

    CREATED_HERE.forget_all()
    return CREATED_HERE.forget_all


@pytest.fixture
def configured(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> Callable:
    """Instantiate a provider and configure it as the engine does, with no credentials in the
    stack config: it then talks to the emulator named by TWILIO_EMULATOR_URL."""
    monkeypatch.setenv("TWILIO_EMULATOR_URL", emulator.url)
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)

    def make(provider_class):
        provider = provider_class()
        provider.configure(SimpleNamespace(config={}))
        return provider

    return make


@pytest.fixture
def tag() -> str:
    return secrets.token_hex(5)


# The state these tests play: what its creates record in Twilio, and adopt back.
STATE_MARK = "5b1c0e"
# Another state with the same stack name (a second clone, a CI job on the wrong backend).
OTHER_STATE_MARK = "a0a0a0"


def named(human: str, tag: str) -> str:
    return friendly_name(human, tag)


@pytest.fixture
def subaccount_sid(configured, tag: str) -> str:
    """A fresh subaccount to hold the resource under test."""
    from providers.subaccount import SubaccountProvider

    created = configured(SubaccountProvider).create(
        {
            "account_key": "acme",
            "environment": "development",
            "role": "shared",
            "friendly_name": named("Acme (development)", tag),
            "tag": tag,
            "state_mark": STATE_MARK,
        }
    )
    return created.id
