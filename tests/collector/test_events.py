"""Parsing status callbacks: every parameter kept as received, malformed bodies refused."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest

from collector.events import (
    MalformedCallback,
    event_key_of,
    parse_form,
    status_event_from,
)
from collector.statuses import STATUS_RANKS, status_rank
from tests.collector.support import SUB_SID, callback_params, message_sid


def test_every_parameter_is_archived_as_received_including_unknown_and_repeated_ones():
    sid = message_sid()
    pairs = [*callback_params(SUB_SID, sid, "delivered").items()]
    pairs += [
        ("ChannelPrefix", "whatsapp"),
        ("MediaUrl", "https://a/1"),
        ("MediaUrl", "https://a/2"),
    ]
    pairs += [("Body", "")]
    event = status_event_from(parse_form(urlencode(pairs).encode()))

    assert event.body == urlencode(pairs)
    archive = parse_form(event.body.encode()).as_archive()
    assert archive["ChannelPrefix"] == "whatsapp"
    assert archive["MediaUrl"] == ["https://a/1", "https://a/2"]
    assert archive["Body"] == ""
    assert list(archive)[: len(pairs) - 4] == [name for name, _ in pairs[: len(pairs) - 4]]
    assert (event.account_sid, event.message_sid, event.status) == (SUB_SID, sid, "delivered")
    assert event.messaging_service_sid.startswith("MG")
    assert event.sender == "+14155550100"


def test_the_event_key_ignores_parameter_order_but_not_values():
    params = callback_params(SUB_SID, message_sid(), "sent")
    shuffled = dict(reversed(list(params.items())))
    assert event_key_of(parse_form(urlencode(params).encode())) == event_key_of(
        parse_form(urlencode(shuffled).encode())
    )
    changed = {**params, "MessageStatus": "delivered"}
    assert event_key_of(parse_form(urlencode(params).encode())) != event_key_of(
        parse_form(urlencode(changed).encode())
    )


def test_legacy_sms_names_stand_in_for_missing_message_names():
    sid = message_sid()
    params = {"AccountSid": SUB_SID, "SmsSid": sid, "SmsStatus": "Sent"}
    event = status_event_from(parse_form(urlencode(params).encode()))
    assert (event.message_sid, event.status) == (sid, "sent")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "form-encoded"),
        (b"AccountSid", "form-encoded"),
        (b"MessageSid=SM" + b"1" * 32, "AccountSid is missing"),
        (b"AccountSid=ACnope&MessageSid=x", "not an account SID"),
        (urlencode({"AccountSid": SUB_SID, "MessageStatus": "sent"}).encode(), "MessageSid"),
        (urlencode({"AccountSid": SUB_SID, "MessageSid": "SM12"}).encode(), "not a message SID"),
        (urlencode({"AccountSid": SUB_SID, "MessageSid": "SM" + "1" * 32}).encode(), "Status"),
        (b"a=" + b"x" * 70_000, "larger than"),
    ],
)
def test_malformed_callbacks_are_refused_with_a_reason(body: bytes, reason: str):
    with pytest.raises(MalformedCallback, match=reason):
        status_event_from(parse_form(body))


def test_statuses_rank_by_lifecycle_and_unknown_statuses_never_promote():
    lifecycle = ["accepted", "queued", "sending", "sent", "delivered", "read"]
    ranks = [status_rank(status) for status in lifecycle]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert status_rank("sent") < status_rank("undelivered") < status_rank("delivered")
    assert status_rank("failed") > status_rank("sent")
    assert status_rank("a-status-twilio-adds-later") == 0
    # A total order among known statuses: no two reorderings can settle differently.
    final = [s for s in STATUS_RANKS if STATUS_RANKS[s] >= STATUS_RANKS["canceled"]]
    assert len({STATUS_RANKS[s] for s in final}) == len(final)


def test_the_form_parser_agrees_with_the_standard_library_on_well_formed_bodies():
    import random
    from urllib.parse import parse_qsl

    draw = random.Random(5)
    alphabet = "abcXYZ019 +-_.~%&=/?:naïve€😀"
    for _ in range(500):
        pairs = [
            (
                "".join(draw.choices(alphabet, k=draw.randint(1, 8))),
                "".join(draw.choices(alphabet, k=draw.randint(0, 12))),
            )
            for _ in range(draw.randint(1, 6))
        ]
        body = urlencode(pairs).encode()
        expected = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
        assert parse_form(body).pairs == expected == pairs


@pytest.mark.parametrize("escape", [b"%zz", b"%2", b"%", b"%C3"])
def test_malformed_escapes_are_refused(escape: bytes):
    with pytest.raises(MalformedCallback):
        parse_form(b"AccountSid=" + escape)


@pytest.mark.parametrize(
    "value", ["+14155550100", "+", "+1 415", "+1+2", "+%", "+é", "+2B", "+%2B", "+1415%"]
)
def test_a_leading_escaped_plus_decodes_as_the_standard_library_does(value: str):
    body = urlencode([("From", value)]).encode()
    assert body.startswith(b"From=%2B")
    assert parse_form(body).pairs == parse_qsl(body.decode(), strict_parsing=True)


@pytest.mark.parametrize("body", [b"From=%2B%zz", b"From=%2B1%2", b"From=%2B%"])
def test_a_leading_escaped_plus_does_not_hide_a_malformed_escape(body: bytes):
    with pytest.raises(MalformedCallback):
        parse_form(body)
