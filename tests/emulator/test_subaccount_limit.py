"""Twilio's cap on a parent's open subaccounts (21480 at 1,000), and the option that raises it
as Twilio support does for ISVs (`--max-subaccounts`).

The 1,000 subaccounts are written straight into the database (the seeder makes them exactly as
the API does), so the test pays for one emulator start, not for 1,000 requests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from emulator import defaults
from emulator.seed import Seeder
from tests.support.emulator_process import REPO_ROOT, EmulatorProcess


def seed_open_subaccounts(db_path: Path, count: int, closed: int = 0) -> None:
    seeder = Seeder(str(db_path), defaults.DEV_ACCOUNT_SID, defaults.DEV_AUTH_TOKEN)
    try:
        for index in range(count):
            seeder.subaccount(f"customer {index:04d}")
        for index in range(closed):
            seeder.subaccount(f"closed {index:04d}", status="closed")
    finally:
        seeder.close()


@pytest.fixture(scope="module")
def full_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 open subaccounts (the default cap) and 5 closed ones, which do not count."""
    db_path = tmp_path_factory.mktemp("limit") / "full.db"
    seed_open_subaccounts(db_path, defaults.MAX_SUBACCOUNTS, closed=5)
    return db_path


def _copy(db_path: Path, workdir: Path) -> Path:
    copy = workdir / "emulator.db"
    copy.write_bytes(db_path.read_bytes())
    return copy


def _emulator(workdir: Path, db_path: Path, *extra_args: str) -> EmulatorProcess:
    return EmulatorProcess(workdir, db_path=db_path, extra_args=list(extra_args))


def test_the_1001st_subaccount_is_refused_with_21480_by_default(
    full_db: Path, tmp_path: Path, client_for: Callable[..., Client]
) -> None:
    with _emulator(tmp_path, _copy(full_db, tmp_path)) as emulator:
        parent = client_for(emulator)
        with pytest.raises(TwilioRestException) as refused:
            parent.api.v2010.accounts.create(friendly_name="one too many")
        assert (refused.value.status, refused.value.code) == (400, 21480)
        assert "maximum of 1000 subaccounts" in refused.value.msg
        # Nothing was made: still 1,000 open ones.
        assert len(parent.api.v2010.accounts.list(status="active", page_size=1000)) == 1001
        assert not parent.api.v2010.accounts.list(friendly_name="one too many")

        # Closing one makes room, as on Twilio.
        first = parent.api.v2010.accounts.list(friendly_name="customer 0000")[0]
        parent.api.v2010.accounts(first.sid).update(status="closed")
        assert parent.api.v2010.accounts.create(friendly_name="fits now").status == "active"


def test_a_raised_limit_admits_more_and_refuses_above_it(
    full_db: Path, tmp_path: Path, client_for: Callable[..., Client]
) -> None:
    db_path = _copy(full_db, tmp_path)
    with _emulator(tmp_path, db_path, "--max-subaccounts", "1002") as emulator:
        parent = client_for(emulator)
        made = [parent.api.v2010.accounts.create(friendly_name=f"isv {n}") for n in (1, 2)]
        assert [account.status for account in made] == ["active", "active"]
        with pytest.raises(TwilioRestException) as refused:
            parent.api.v2010.accounts.create(friendly_name="isv 3")
        assert refused.value.code == 21480
        assert "maximum of 1002 subaccounts" in refused.value.msg


def test_the_limit_is_a_setting_of_the_run_not_of_the_database(
    tmp_path: Path, client_for: Callable[..., Client]
) -> None:
    """A database filled under a raised limit keeps every subaccount when served at the
    default again; only new creates are refused."""
    db_path = tmp_path / "emulator.db"
    seed_open_subaccounts(db_path, 3)
    with _emulator(tmp_path / "low", db_path, "--max-subaccounts", "3") as emulator:
        parent = client_for(emulator)
        with pytest.raises(TwilioRestException) as refused:
            parent.api.v2010.accounts.create(friendly_name="fourth")
        assert refused.value.code == 21480
    with _emulator(tmp_path / "raised", db_path, "--max-subaccounts", "4") as emulator:
        parent = client_for(emulator)
        assert parent.api.v2010.accounts.create(friendly_name="fourth").status == "active"
        assert len(parent.api.v2010.accounts.list(status="active")) == 5  # the parent + 4


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_bad_limit_is_one_usage_line(value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "--max-subaccounts", value],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "argument --max-subaccounts:" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_fleet_benchmark_raises_the_limit_only_past_twilios_default() -> None:
    from bench.fleet import subaccount_limit_args

    assert subaccount_limit_args(200) == []
    # 1,000 customers and the ones the run adds: the cap is raised, as Twilio support does.
    raised = subaccount_limit_args(1000)
    assert raised[0] == "--max-subaccounts" and int(raised[1]) > 1000
