"""The emulator is reached over HTTP only, never imported by the product or the benchmark;
the few facts both sides need are written on each side and held equal here (tests may import
both)."""

from __future__ import annotations

from bench.estate_shape import US_AREA_CODES
from emulator import defaults as emulator_defaults
from emulator.inventory import LOCAL_AREA_CODES
from twilio_access import dev_defaults


def test_the_documented_development_account_is_the_emulators() -> None:
    assert dev_defaults.DEV_ACCOUNT_SID == emulator_defaults.DEV_ACCOUNT_SID
    assert dev_defaults.DEV_AUTH_TOKEN == emulator_defaults.DEV_AUTH_TOKEN


def test_the_documented_address_is_where_the_emulator_listens_by_default() -> None:
    assert dev_defaults.DEFAULT_EMULATOR_URL == emulator_defaults.DEFAULT_EMULATOR_URL
    assert dev_defaults.EMULATOR_URL_ENV == emulator_defaults.EMULATOR_URL_ENV
    environ = {"TWILIO_EMULATOR_URL": "http://127.0.0.1:5999/"}
    assert dev_defaults.emulator_url_from_env(environ) == emulator_defaults.emulator_url_from_env(
        environ
    )
    assert dev_defaults.emulator_url_from_env({}) == emulator_defaults.emulator_url_from_env({})


def test_the_benchmark_searches_the_area_codes_the_emulator_stocks() -> None:
    stocked = tuple(area.npa for area in LOCAL_AREA_CODES if area.country == "US")
    assert stocked == US_AREA_CODES
