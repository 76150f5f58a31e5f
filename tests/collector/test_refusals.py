"""Cheap, late refusals: an unknown account read from the raw body only when that is certain,
and refused requests answered one per event-loop iteration, after the rest."""

from __future__ import annotations

import asyncio

import pytest

from collector.events import MalformedCallback, account_sid_of, parse_form, plain_account_sid
from collector.refusals import RefusalQueue

SID = "AC" + "ab" * 16
OTHER = "AC" + "cd" * 16
BODIES = [
    f"AccountSid={SID}&MessageStatus=sent".encode(),
    f"MessageStatus=sent&AccountSid={SID}".encode(),
    f"MessageStatus=sent&AccountSid={SID}&AccountSid={OTHER}".encode(),  # the first one counts
    f"XAccountSid={OTHER}&AccountSid={SID}".encode(),  # not a field of that name
    f"XAccountSid={OTHER}".encode(),
    f"Account%53id={OTHER}&AccountSid={SID}".encode(),  # an escaped name spells it first
    f"From=%2B14155550100&AccountSid={SID}".encode(),
    f"AccountSid={SID.upper()}".encode(),
    f"AccountSid={SID}x".encode(),
    f"AccountSid=%41{SID[1:]}".encode(),
    b"AccountSid=",
    b"MessageStatus=sent",
    f"AccountSid={SID}&%zz=1".encode(),  # malformed after the SID: the full parse refuses it
]


@pytest.mark.parametrize("body", BODIES)
def test_the_plain_account_sid_is_the_parsed_one_or_nothing(body: bytes):
    plain = plain_account_sid(body)
    try:
        parsed: str | None = account_sid_of(parse_form(body))
    except MalformedCallback:
        parsed = None
    assert plain is None or plain == parsed or b"%zz" in body, (plain, parsed)


def test_plain_reading_covers_the_usual_callback():
    assert plain_account_sid(BODIES[0]) == SID
    assert plain_account_sid(BODIES[1]) == SID
    assert plain_account_sid(BODIES[5]) is None  # escaped: parse to know


def test_refusals_get_one_turn_per_loop_iteration_in_arrival_order():
    async def scenario() -> list[str]:
        queue = RefusalQueue()
        order: list[str] = []

        async def refused(name: str) -> None:
            await queue.turn()
            order.append(name)

        async def other_work(name: str) -> None:
            for step in range(3):
                order.append(f"{name}{step}")
                await asyncio.sleep(0)  # one loop iteration

        await asyncio.gather(refused("r1"), refused("r2"), refused("r3"), other_work("w"))
        assert queue.most_waiting == 3
        return order

    order = asyncio.run(scenario())
    refusals = [name for name in order if name.startswith("r")]
    assert refusals == ["r1", "r2", "r3"]
    # The other coroutine keeps its pace: the three refusals do not all go before its work.
    assert order.index("r3") > order.index("w1")


def test_a_refused_client_that_went_away_does_not_hold_up_the_others():
    async def scenario() -> bool:
        queue = RefusalQueue()
        gone = queue.turn()
        gone.cancel()
        await asyncio.wait_for(queue.turn(), timeout=5)
        return True

    assert asyncio.run(scenario())
