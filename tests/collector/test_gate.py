"""The refusal budget over real HTTP: uvicorn on loopback with the collector's gated protocol.
The forger connects from 127.0.0.2 (Linux routes all of 127/8 to the loopback), Twilio's
callbacks come from 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest

from collector.app import CollectorConfig
from collector.gate import GatedHttpProtocol
from collector.peers import BudgetSettings
from collector.signatures import StaticTokenSource
from tests.collector.support import (
    PARENT_SID,
    PARENT_TOKEN,
    SUB_SID,
    SUB_TOKEN,
    RunningCollector,
    callback_params,
    message_sid,
    running_collector,
    sign,
)
from tests.support.waiting import wait_until

FORGER = "127.0.0.2"
STRANGER_SID = "AC" + "f" * 32


def _config(sqlite_url: str, budget: BudgetSettings) -> CollectorConfig:
    tokens = StaticTokenSource({PARENT_SID: PARENT_TOKEN, SUB_SID: SUB_TOKEN})
    return CollectorConfig(database_url=sqlite_url, token_source=tokens, refusal_budget=budget)


def _raw_post(
    collector: RunningCollector,
    params: dict[str, str],
    *,
    source: str = FORGER,
    signature: str = "forged",
    extra_headers: str = "",
) -> bytes | None:
    """One request on a new connection from `source`: the raw answer, or None when the
    connection was reset or closed before any answer."""
    port = int(collector.base_url.rsplit(":", 1)[1])
    body = urlencode(params).encode()
    head = (
        f"POST {collector.app.config.status_path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\n{extra_headers}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    answer = b""
    try:
        with socket.create_connection(
            ("127.0.0.1", port), timeout=10, source_address=(source, 0)
        ) as connection:
            connection.sendall(head.encode() + body)
            while b"\r\n\r\n" not in answer:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except ConnectionResetError:  # on the loopback the reset can beat connect() itself
        return None
    return answer or None


@pytest.fixture
def collector(sqlite_url: str, request: pytest.FixtureRequest) -> Iterator[RunningCollector]:
    """Served with a burst of 3 refusals, earned back at the rate the test gives."""
    budget = BudgetSettings(per_second=request.param, burst=3)
    with running_collector(_config(sqlite_url, budget), http=GatedHttpProtocol) as running:
        yield running


# One refusal earned back per 20 s: nothing refills while the test looks.
@pytest.mark.parametrize("collector", [0.05], indirect=True)
def test_a_forger_over_its_budget_is_cut_off_unread_and_twilio_is_not(
    collector: RunningCollector,
):
    stranger = callback_params(STRANGER_SID, message_sid(), "sent")
    answers = [_raw_post(collector, stranger) for _ in range(3)]
    for answer in answers:
        assert answer is not None and answer.startswith(b"HTTP/1.1 403")
        assert b"connection: close" in answer.lower()  # each refusal ends its connection
    # The budget is spent: the forger's next connection is reset before a byte is read.
    assert _raw_post(collector, stranger) is None
    budget = collector.app.refusal_budget
    assert budget.cut_off >= 1
    # Twilio's callbacks, from another address, are untouched.
    params = callback_params(SUB_SID, message_sid(), "delivered")
    signature = sign(collector.status_url, params, SUB_TOKEN)
    answer = _raw_post(collector, params, source="127.0.0.1", signature=signature)
    assert answer is not None and answer.startswith(b"HTTP/1.1 200")
    assert b"connection: close" not in answer.lower()
    rejections = collector.app.receiver.counters.rejections
    assert rejections["unknown_account"] == 3 and "over_budget" not in rejections


@pytest.mark.parametrize("collector", [2.0], indirect=True)
def test_a_cut_off_client_gets_through_again_once_it_has_earned_a_refusal_back(
    collector: RunningCollector,
):
    stranger = callback_params(STRANGER_SID, message_sid(), "sent")
    wait_until(
        lambda: _raw_post(collector, stranger) is None, timeout=10, what="the forger cut off"
    )
    # 2 refusals a second: a connection is let through again within half a second.
    answer = wait_until(
        lambda: _raw_post(collector, stranger), timeout=10, what="the forger let through again"
    )
    assert answer.startswith(b"HTTP/1.1 403")


def test_behind_a_trusted_proxy_the_budget_counts_the_forwarded_client(sqlite_url: str):
    budget = BudgetSettings(per_second=0.01, burst=2)
    with running_collector(
        _config(sqlite_url, budget),
        http=GatedHttpProtocol,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    ) as collector:
        stranger = callback_params(STRANGER_SID, message_sid(), "sent")
        via_proxy = "X-Forwarded-For: 203.0.113.7\r\n"
        answers = [
            _raw_post(collector, stranger, source="127.0.0.1", extra_headers=via_proxy)
            for _ in range(4)
        ]
        # The proxy's connections are never cut (it carries Twilio's callbacks too): the
        # forwarded client over its budget is refused without its body being read.
        assert all(a is not None and a.startswith(b"HTTP/1.1 403") for a in answers)
        rejections = collector.app.receiver.counters.rejections
        assert rejections["unknown_account"] == 2 and rejections["over_budget"] == 2
        assert collector.app.refusal_budget.cut_off == 0
        # Another client behind the same proxy is not held to the forger's budget.
        params = callback_params(SUB_SID, message_sid(), "delivered")
        answer = _raw_post(
            collector,
            params,
            source="127.0.0.1",
            signature=sign(collector.status_url, params, SUB_TOKEN),
            extra_headers="X-Forwarded-For: 198.51.100.20\r\n",
        )
        assert answer is not None and answer.startswith(b"HTTP/1.1 200")


def test_cut_off_connections_are_held_unread_before_their_reset_within_a_bound(
    sqlite_url: str,
):
    budget = BudgetSettings(per_second=0.01, burst=1, hold_seconds=5.0, max_held=1)
    with running_collector(_config(sqlite_url, budget), http=GatedHttpProtocol) as collector:
        stranger = callback_params(STRANGER_SID, message_sid(), "sent")
        assert _raw_post(collector, stranger) is not None  # the one refusal of the burst
        held = collector.app.refusal_budget
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(_raw_post, collector, stranger)
            wait_until(lambda: held.held == 1, timeout=10, what="a cut-off connection held")
            # The bound is reached: the next cut-off connection is reset at once, while the
            # first one is still held (held too, it would end after the first one).
            assert _raw_post(collector, stranger) is None
            assert not first.done()
            assert held.held == 1
            assert first.result(timeout=30) is None  # reset when its hold ends
        wait_until(lambda: held.held == 0, timeout=10, what="the held connection released")
        assert held.cut_off == 2


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (["--refusal-burst", "0"], "collector: --refusal-burst must be at least 1"),
        (
            ["--refusals-per-second", "-1"],
            "collector: --refusals-per-second must be 0 (no budget) or more",
        ),
        (["--cut-off-hold", "-1"], "collector: --cut-off-hold must be between 0 and 60 seconds"),
    ],
)
def test_a_bad_budget_stops_serve_with_one_line(
    arguments: list[str], line: str, sqlite_url: str, capsys: pytest.CaptureFixture[str]
):
    from collector.__main__ import main

    assert main(["serve", "--db", sqlite_url, *arguments]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == line
