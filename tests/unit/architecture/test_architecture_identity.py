"""Identity tags, FriendlyNames and logical names: what providers find and adopt objects by."""

from __future__ import annotations

import hashlib
import re

import pytest

from architecture import (
    FRIENDLY_NAME_LIMIT,
    friendly_name,
    identity,
    identity_tag,
    parse_tag,
    render_tag,
)
from identity_tags import (
    parse_state_mark,
    state_mark,
    with_state_mark,
    without_state_mark,
)

PROJECT = "twilio-landing-zone"


def test_tag_is_the_first_10_hex_of_a_sha256_of_its_inputs() -> None:
    expected = hashlib.sha256(
        "\x1f".join((PROJECT, "prod", "acme", "acme-svc-notifications")).encode()
    ).hexdigest()[:10]
    assert identity_tag(PROJECT, "prod", "acme", "acme-svc-notifications") == expected


def test_tag_value_is_pinned() -> None:
    # Objects already in Twilio are found by this value: changing the algorithm orphans them.
    assert identity_tag(PROJECT, "prod", "acme", "acme-svc-notifications") == "80ac726d25"


def test_tag_is_deterministic() -> None:
    tags = {identity_tag(PROJECT, "dev", "shared-dev", "shared-dev") for _ in range(5)}
    assert len(tags) == 1
    assert re.fullmatch(r"[0-9a-f]{10}", tags.pop())


@pytest.mark.parametrize(
    "changed",
    [
        ("other-project", "prod", "acme", "acme"),
        (PROJECT, "dev", "acme", "acme"),
        (PROJECT, "prod", "globex", "acme"),
        (PROJECT, "prod", "acme", "acme-key-backend"),
    ],
)
def test_every_input_changes_the_tag(changed: tuple[str, str, str, str]) -> None:
    assert identity_tag(*changed) != identity_tag(PROJECT, "prod", "acme", "acme")


def test_inputs_cannot_run_into_each_other() -> None:
    assert identity_tag(PROJECT, "prod", "a-b", "c") != identity_tag(PROJECT, "prod", "a", "b-c")


def test_friendly_name_appends_the_rendered_tag() -> None:
    assert friendly_name("Acme Corp (production)", "3f9a0c12de") == (
        "Acme Corp (production) [tlz:3f9a0c12de]"
    )


def test_friendly_name_truncates_the_human_part_never_the_tag() -> None:
    name = friendly_name("x" * 100, "3f9a0c12de")
    # Room is kept for the state mark that create adds (`:5b1c0e`).
    assert len(name) == FRIENDLY_NAME_LIMIT - 7 == 57
    assert name.endswith(" [tlz:3f9a0c12de]")
    assert name == "x" * 40 + " [tlz:3f9a0c12de]"
    assert parse_tag(name) == "3f9a0c12de"
    marked = with_state_mark(name, "5b1c0e")
    assert len(marked) == FRIENDLY_NAME_LIMIT
    assert marked == "x" * 40 + " [tlz:3f9a0c12de:5b1c0e]"
    assert (parse_tag(marked), parse_state_mark(marked)) == ("3f9a0c12de", "5b1c0e")
    assert without_state_mark(marked) == name
    assert parse_state_mark(name) is None


def test_the_state_mark_is_short_and_follows_the_state() -> None:
    first = state_mark("file:///a/backend|host|organization/p/dev")
    assert len(first) == 6 and first != state_mark("file:///b/backend|host|organization/p/dev")
    assert with_state_mark("Acme [tlz:0123456789]", None) == "Acme [tlz:0123456789]"
    assert with_state_mark("Acme, edited", first) == "Acme, edited"


def test_friendly_name_at_the_limit_is_kept_whole() -> None:
    human = "y" * 40
    assert friendly_name(human, "0123456789") == f"{human} [tlz:0123456789]"


def test_friendly_name_trims_whitespace_left_at_the_cut() -> None:
    human = "a" * 39 + " tail"
    assert friendly_name(human, "0123456789") == "a" * 39 + " [tlz:0123456789]"


def test_friendly_name_with_no_human_part_is_the_tag() -> None:
    assert friendly_name("  ", "0123456789") == "[tlz:0123456789]"


def test_a_malformed_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="is not an identity tag"):
        render_tag("XYZ")
    with pytest.raises(ValueError, match="is not an identity tag"):
        friendly_name("Acme", "3F9A0C12DE")


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("Acme Corp [tlz:3f9a0c12de]", "3f9a0c12de"),
        ("[tlz:0000000000]", "0000000000"),
        ("Acme [tlz:1111111111] renamed [tlz:2222222222]", "2222222222"),
        ("Acme Corp", None),
        ("Acme [tlz:3f9a0c12d]", None),
        ("Acme [tlz:3F9A0C12DE]", None),
        ("Acme [xyz:3f9a0c12de]", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_tag(name: str | None, tag: str | None) -> None:
    assert parse_tag(name) == tag


def test_logical_names_read_like_the_estate() -> None:
    assert identity.account_logical_name("acme") == "acme"
    assert identity.api_key_logical_name("acme", "backend") == "acme-key-backend"
    assert identity.service_logical_name("acme", "notifications") == "acme-svc-notifications"
    assert identity.sender_pool_logical_name("acme", "notifications") == (
        "acme-svc-notifications-pool"
    )
    assert identity.phone_number_logical_name("acme", "notifications", 1) == (
        "acme-num-notifications-1"
    )
    # Exact numbers are named without their service: moving one keeps the resource.
    assert identity.exact_number_logical_name("acme", "+14155550100") == "acme-num-14155550100"
