"""The strict spec validator itself: it must refuse what the emulator must never send."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.emulator.spec_validation import (
    ALLOW_LIST,
    SPEC_DIR,
    SPEC_FILES,
    SpecMissingError,
    load_spec,
    load_spec_from,
    validate_response,
)

KEY = {
    "sid": "SK" + "a" * 32,
    "friendly_name": "k",
    "date_created": "Mon, 13 Jun 2016 22:50:08 +0000",
    "date_updated": "Mon, 13 Jun 2016 22:50:08 +0000",
}
KEYS_PATH = "/api/2010-04-01/Accounts/AC" + "a" * 32 + "/Keys/SK" + "a" * 32 + ".json"
SERVICE_EXAMPLE_PATH = "/messaging/v1/Services/MG" + "a" * 32


def _service_example() -> dict:
    spec = load_spec("messaging")
    example = spec["paths"]["/v1/Services"]["post"]["responses"]["201"]["content"][
        "application/json"
    ]["examples"]["create"]["value"]
    example = copy.deepcopy(example)
    # The pinned spec's own example carries a field its schema does not declare yet.
    example.pop("sending_windows", None)
    return example


def test_all_specs_are_present() -> None:
    for name in SPEC_FILES.values():
        assert (SPEC_DIR / name).is_file(), f"missing {SPEC_DIR / name}"


def test_missing_spec_is_an_error_not_a_skip(tmp_path: Path) -> None:
    with pytest.raises(SpecMissingError):
        load_spec_from(tmp_path, "api")


def test_a_conforming_key_passes() -> None:
    assert validate_response("GET", KEYS_PATH, 200, json.dumps(KEY)) == []


def test_undeclared_property_is_refused() -> None:
    problems = validate_response("GET", KEYS_PATH, 200, json.dumps({**KEY, "secret": "s"}))
    assert any("secret" in p for p in problems)


def test_every_declared_property_is_required() -> None:
    partial = {k: v for k, v in KEY.items() if k != "date_updated"}
    assert any(
        "date_updated" in p for p in validate_response("GET", KEYS_PATH, 200, json.dumps(partial))
    )


def test_null_only_where_nullable() -> None:
    example = _service_example()
    assert validate_response("GET", SERVICE_EXAMPLE_PATH, 200, json.dumps(example)) == []
    example["scan_message_content"] = None  # an enum the spec does not mark nullable
    assert validate_response("GET", SERVICE_EXAMPLE_PATH, 200, json.dumps(example))


@pytest.mark.parametrize(
    "value",
    ["2016-06-13T22:50:08Z", "Mon, 13 Jun 2016 22:50:08 GMT", "Mon, 13 Jun 2016 22:50:08 -0000"],
)
def test_v2010_dates_must_be_rfc2822_utc(value: str) -> None:
    assert validate_response("GET", KEYS_PATH, 200, json.dumps({**KEY, "date_created": value}))


@pytest.mark.parametrize(
    "value",
    ["Mon, 13 Jun 2016 22:50:08 +0000", "2015-07-30T20:12:31.123Z", "2015-07-30T20:12:31+00:00"],
)
def test_messaging_dates_must_be_iso_seconds_z(value: str) -> None:
    example = _service_example()
    example["date_created"] = value
    assert validate_response("GET", SERVICE_EXAMPLE_PATH, 200, json.dumps(example))


def test_error_bodies_need_twilio_four_fields() -> None:
    good = {
        "code": 20404,
        "message": "x",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }
    assert validate_response("GET", KEYS_PATH, 404, json.dumps(good)) == []
    assert validate_response("GET", KEYS_PATH, 404, json.dumps({**good, "status": 400}))
    rfc9457 = {"type": "about:blank", "title": "Not Found", "status": 404, "code": 20404}
    assert validate_response("GET", KEYS_PATH, 404, json.dumps(rfc9457))


def test_undeclared_status_is_refused() -> None:
    assert validate_response("GET", KEYS_PATH, 201, json.dumps(KEY))


def test_allow_list_names_real_properties_with_reasons() -> None:
    for (domain, component, prop), reason in ALLOW_LIST.items():
        schema = load_spec(domain)["components"]["schemas"][component]
        assert prop in schema["properties"], (component, prop)
        assert len(reason) > 20


def test_phone_numbers_must_be_e164_outside_the_allow_list() -> None:
    spec = load_spec("messaging")
    example = spec["paths"]["/v1/Services/{ServiceSid}/PhoneNumbers"]["post"]["responses"]["201"][
        "content"
    ]["application/json"]["examples"]["create"]["value"]
    path = "/messaging/v1/Services/MG" + "a" * 32 + "/PhoneNumbers"
    assert validate_response("POST", path, 201, json.dumps(example)) == []
    national = {**example, "phone_number": "(415) 555-0100"}
    assert validate_response("POST", path, 201, json.dumps(national))
