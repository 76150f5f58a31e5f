"""The status-callback endpoint over real HTTP (uvicorn on loopback), with a fake token source."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from collector.app import CollectorConfig
from collector.signatures import StaticTokenSource, TokenLookupError
from collector.storage.database import create_database_engine
from collector.storage.schema import messages, status_events
from tests.collector.support import (
    OTHER_SUB_SID,
    PARENT_SID,
    PARENT_TOKEN,
    SUB_SID,
    SUB_TOKEN,
    RunningCollector,
    callback_params,
    message_sid,
    running_collector,
)


@pytest.fixture
def tokens() -> StaticTokenSource:
    return StaticTokenSource({PARENT_SID: PARENT_TOKEN, SUB_SID: SUB_TOKEN})


@pytest.fixture
def collector(sqlite_url: str, tokens: StaticTokenSource) -> Iterator[RunningCollector]:
    with running_collector(
        CollectorConfig(database_url=sqlite_url, token_source=tokens)
    ) as running:
        yield running


def _events(url: str) -> list:
    engine = create_database_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(status_events).order_by(status_events.c.id)).all()
    engine.dispose()
    return rows


def _message_status(url: str, sid: str) -> str:
    engine = create_database_engine(url)
    with engine.connect() as connection:
        status = connection.execute(
            select(messages.c.status).where(messages.c.message_sid == sid)
        ).scalar_one()
    engine.dispose()
    return status


def test_a_signed_callback_is_stored_before_the_answer(collector: RunningCollector, sqlite_url):
    sid = message_sid()
    params = callback_params(SUB_SID, sid, "delivered", ChannelStatusMessage="ok", Unheard="of")
    response = collector.post(params, SUB_TOKEN, headers={"I-Twilio-Idempotency-Token": "ID123"})
    assert response.status_code == 200
    [row] = _events(sqlite_url)
    assert (row.account_sid, row.message_sid, row.status) == (SUB_SID, sid, "delivered")
    assert row.idempotency_token == "ID123"
    assert row.body == urlencode(params)


def test_a_replay_is_answered_200_and_changes_nothing(collector: RunningCollector, sqlite_url):
    sid = message_sid()
    delivered = callback_params(SUB_SID, sid, "delivered")
    sent = callback_params(SUB_SID, sid, "sent")
    for params in (delivered, delivered, sent, delivered, sent):
        assert collector.post(params, SUB_TOKEN).status_code == 200
    assert [row.status for row in _events(sqlite_url)] == ["delivered", "sent"]
    assert _message_status(sqlite_url, sid) == "delivered"


def test_forged_unsigned_and_unknown_account_callbacks_get_403(
    collector: RunningCollector, sqlite_url
):
    params = callback_params(SUB_SID, message_sid(), "delivered")
    assert collector.post(params, PARENT_TOKEN).status_code == 403  # another account's token
    assert collector.post(params, None).status_code == 403
    tampered_url = collector.status_url + "?extra=1"
    assert collector.post(params, SUB_TOKEN, signed_url=tampered_url).status_code == 403
    unknown = callback_params(OTHER_SUB_SID, message_sid(), "delivered")
    assert collector.post(unknown, SUB_TOKEN).status_code == 403
    assert _events(sqlite_url) == []
    health = httpx.get(collector.base_url + "/healthz").json()
    assert health["answers"] == {"403": 4}
    assert health["rejections"] == {"forged": 2, "unsigned": 1, "unknown_account": 1}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not a form", "application/x-www-form-urlencoded"),
        (b"MessageStatus=sent", "application/x-www-form-urlencoded"),
        (json.dumps({"AccountSid": SUB_SID}).encode(), "application/json"),
        (
            b"AccountSid=" + SUB_SID.encode() + b"&x=" + b"y" * 70_000,
            "application/x-www-form-urlencoded",
        ),
    ],
)
def test_malformed_requests_get_400(collector: RunningCollector, body: bytes, content_type: str):
    response = httpx.post(
        collector.status_url, content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400


def test_a_signed_callback_without_a_message_sid_gets_400(collector: RunningCollector):
    params = callback_params(SUB_SID, message_sid(), "sent")
    del params["MessageSid"], params["SmsSid"]
    assert collector.post(params, SUB_TOKEN).status_code == 400


def test_a_rotated_token_keeps_working(collector: RunningCollector, tokens: StaticTokenSource):
    assert (
        collector.post(callback_params(SUB_SID, message_sid(), "sent"), SUB_TOKEN).status_code
        == 200
    )
    tokens.tokens[SUB_SID] = "rotated-" + SUB_TOKEN
    rotated = callback_params(SUB_SID, message_sid(), "sent")
    assert collector.post(rotated, "rotated-" + SUB_TOKEN).status_code == 200
    # The old token no longer works once the new one is known.
    old = callback_params(SUB_SID, message_sid(), "sent")
    assert collector.post(old, SUB_TOKEN).status_code == 403


def test_behind_a_proxy_the_public_url_is_what_signatures_are_checked_against(
    sqlite_url: str, tokens: StaticTokenSource
):
    public = "https://hooks.example.com/collector"
    config = CollectorConfig(database_url=sqlite_url, token_source=tokens, public_url=public + "/")
    with running_collector(config) as collector:
        params = callback_params(SUB_SID, message_sid(), "sent")
        signed_for_public = public + "/twilio/status"
        assert collector.post(params, SUB_TOKEN, signed_url=signed_for_public).status_code == 200
        other = callback_params(SUB_SID, message_sid(), "sent")
        assert collector.post(other, SUB_TOKEN).status_code == 403  # signed for the local URL


def test_an_unreachable_token_source_gets_503_so_twilio_retries(sqlite_url: str):
    class Unreachable:
        def auth_token(self, account_sid: str) -> str | None:
            raise TokenLookupError("connection refused")

        def list_accounts(self) -> list:
            raise TokenLookupError("connection refused")

    config = CollectorConfig(database_url=sqlite_url, token_source=Unreachable())
    with running_collector(config) as collector:
        params = callback_params(SUB_SID, message_sid(), "sent")
        assert collector.post(params, SUB_TOKEN).status_code == 503
    assert _events(sqlite_url) == []


def test_other_methods_on_the_status_path_get_405_and_health_reports_the_writer(
    collector: RunningCollector,
):
    assert httpx.get(collector.status_url).status_code == 405
    collector.post(callback_params(SUB_SID, message_sid(), "sent"), SUB_TOKEN)
    health = httpx.get(collector.base_url + "/healthz").json()
    assert health["status"] == "ok"
    assert health["writer"]["events"] == 1
    assert health["answers"] == {"200": 1}


@pytest.mark.postgres
def test_the_receiver_stores_in_postgresql(postgres_url: str, tokens: StaticTokenSource):
    sid = message_sid()
    with running_collector(
        CollectorConfig(database_url=postgres_url, token_source=tokens)
    ) as collector:
        for status in ("sent", "delivered", "sent", "delivered"):
            params = callback_params(SUB_SID, sid, status)
            assert collector.post(params, SUB_TOKEN).status_code == 200
    assert [row.status for row in _events(postgres_url)] == ["sent", "delivered"]
    assert _message_status(postgres_url, sid) == "delivered"
