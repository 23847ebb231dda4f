"""MaxConnector through its MaxClient against FakeMax (MAX's wire format), and MAX in the pipeline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.ingest import Outcome, Pipeline
from connectors.base import OutboundReply, WebhookRequest
from connectors.max.client import MAX_TEXT
from connectors.max.connector import MaxConnector
from connectors.max.fake import FakeMax
from connectors.retry import parse_retry_after, with_retries
from core.config import Settings
from core.errors import AuthError, ChannelUnavailable, ParseError, ProviderError
from core.values import Channel, Envelope
from store.base import BaseStore

TOKEN = "max-test-token"
SECRET = "max-s3cret"
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMax]:
    server = FakeMax(TOKEN)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def conn(fake: FakeMax) -> AsyncIterator[MaxConnector]:
    connector = MaxConnector.create(TOKEN, api_base=fake.base_url, webhook_secret=SECRET)
    yield connector
    await connector.close()


def reply(user_id: str = "5001", text: str = "Здравствуйте! Чем помочь?") -> OutboundReply:
    return OutboundReply(reply_id="r1", channel=Channel.MAX, chat_id="-1", user_id=user_id, text=text)


def hook(body: bytes, secret: str | None) -> WebhookRequest:
    headers = {"x-max-bot-api-secret": secret} if secret is not None else {}
    return WebhookRequest(path="/webhooks/max", headers=headers, body=body, content_type="application/json")


class RecordingSleep:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.pauses.append(delay)


async def test_send_goes_to_the_user_id_query_parameter(fake: FakeMax, conn: MaxConnector) -> None:
    result = await conn.send(reply())
    [sent] = fake.sent
    assert (sent.user_id, sent.chat_id, sent.text, sent.attachments) == ("5001", "", "Здравствуйте! Чем помочь?", [])
    assert result.provider_message_id == sent.mid
    assert result.sent_at.tzinfo is not None


async def test_a_long_reply_is_split_into_messages_max_accepts(fake: FakeMax, conn: MaxConnector) -> None:
    text = ("слово " * 1500).strip()
    await conn.send(reply(text=text))
    assert len(fake.sent) == 3
    assert all(len(m.text) <= MAX_TEXT for m in fake.sent)
    assert "".join(m.text for m in fake.sent) == text


async def test_ask_contact_sends_a_request_contact_button(fake: FakeMax, conn: MaxConnector) -> None:
    await conn.ask_contact("5001", "Оставьте номер, пожалуйста", button="Поделиться номером")
    [keyboard] = fake.sent[0].attachments
    assert keyboard == {
        "type": "inline_keyboard",
        "payload": {"buttons": [[{"type": "request_contact", "text": "Поделиться номером"}]]},
    }


async def test_blocked_is_unavailable_and_not_retried(fake: FakeMax, conn: MaxConnector) -> None:
    fake.fail_blocked(times=5)
    sleep = RecordingSleep()
    with pytest.raises(ChannelUnavailable):
        await with_retries(lambda: conn.send(reply()), attempts=5, base_delay=1, max_delay=5, sleep=sleep)
    assert sleep.pauses == []
    assert fake.calls.count("POST /messages") == 1


async def test_flood_and_server_errors_are_retried(fake: FakeMax, conn: MaxConnector) -> None:
    fake.fail_flood(retry_after=7)
    with pytest.raises(ProviderError) as info:
        await conn.send(reply())
    assert info.value.status == 429 and info.value.retry_after == 7 and info.value.retryable
    assert "too.many.requests" in info.value.reason
    fake.fail_flood(retry_after=3)
    fake.fail_server()
    sleep = RecordingSleep()
    await with_retries(lambda: conn.send(reply()), attempts=3, base_delay=1, max_delay=5, sleep=sleep)
    assert sleep.pauses[0] == 3 and len(sleep.pauses) == 2
    assert len(fake.sent) == 1


async def test_a_wrong_token_is_refused(fake: FakeMax) -> None:
    connector = MaxConnector.create("wrong", api_base=fake.base_url)
    try:
        with pytest.raises(ProviderError) as info:
            await connector.send(reply())
        assert info.value.status == 401 and not info.value.retryable
    finally:
        await connector.close()


async def test_subscribe_and_unsubscribe(fake: FakeMax, conn: MaxConnector) -> None:
    await conn.subscribe("https://stitch.example/webhooks/max", SECRET)
    assert (fake.webhook_url, fake.webhook_secret) == ("https://stitch.example/webhooks/max", SECRET)
    assert fake.state.update_types == ["message_created"]
    await conn.unsubscribe("https://stitch.example/webhooks/max")
    assert fake.webhook_url == ""


def test_verify_compares_the_secret_header(conn: MaxConnector) -> None:
    conn.verify(hook(b"{}", SECRET))
    for given in ("forged", "", None):
        with pytest.raises(AuthError):
            conn.verify(hook(b"{}", given))
    unset = MaxConnector.create(TOKEN, webhook_secret="")
    with pytest.raises(AuthError, match="not configured"):
        unset.verify(hook(b"{}", ""))


def test_envelope_carries_the_final_event_id(fake: FakeMax, conn: MaxConnector) -> None:
    update = fake.text_update(user_id=5001, text="hi", mid="mid.abc")
    env = conn.envelope(hook(json.dumps(update).encode(), SECRET), T0)
    assert env is not None and env.id == "max:mid.abc"
    assert conn.envelope(hook(json.dumps(fake.bot_started(user_id=1)).encode(), SECRET), T0) is None
    with pytest.raises(ParseError):
        conn.envelope(hook(b"[]", SECRET), T0)


async def test_long_polling_receives_pushed_updates_in_order(fake: FakeMax, conn: MaxConnector) -> None:
    seen: list[Envelope] = []
    stop = asyncio.Event()

    async def handle(envelope: Envelope) -> None:
        seen.append(envelope)
        if len(seen) == 2:
            stop.set()

    first = fake.text_update(user_id=5001, text="привет")
    await fake.push_update(first)
    await fake.push_update({"update_type": "message_created", "message": "broken"})  # skipped, not fatal
    task = asyncio.create_task(conn.poll(handle, stop, timeout=5))
    second = fake.text_update(user_id=5002, contact_phone="+79123456789")
    await fake.push_update(second)
    await asyncio.wait_for(task, 10)
    assert [e.id for e in seen] == ["max:" + first["message"]["body"]["mid"], "max:" + second["message"]["body"]["mid"]]
    assert fake.calls[0] == "GET /me"


async def test_polling_stops_promptly_while_waiting(fake: FakeMax, conn: MaxConnector) -> None:
    stop = asyncio.Event()

    async def handle(envelope: Envelope) -> None:
        raise AssertionError("no updates were pushed")

    task = asyncio.create_task(conn.poll(handle, stop, timeout=30))
    while "GET /updates" not in fake.calls:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_polling_stops_promptly_while_backing_off(fake: FakeMax, conn: MaxConnector) -> None:
    """A 429 asking for a long pause (or an endless one) must not hold up the shutdown."""
    stop = asyncio.Event()
    asked: list[int] = []

    async def flooded(*, marker: int | None, timeout: int) -> tuple[list[dict[str, object]], int | None]:
        asked.append(timeout)
        raise ProviderError("max", "GET /updates failed: too.many.requests", status=429, retry_after=float("inf"))

    async def handle(envelope: Envelope) -> None:
        raise AssertionError("no updates")

    conn.client.updates = flooded  # type: ignore[method-assign]
    task = asyncio.create_task(conn.poll(handle, stop, timeout=30))
    while not asked:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)


def test_a_retry_after_that_is_not_a_finite_number_is_ignored() -> None:
    assert parse_retry_after("inf") is None and parse_retry_after("nan") is None and parse_retry_after("7") == 7


# --- MAX in the pipeline, on SQLite and on Redis ---------------------------------------------------


def _env(fake: FakeMax, minute: float, **fields: object) -> Envelope:
    moment = T0 + timedelta(minutes=minute)
    update = fake.text_update(timestamp_ms=int(moment.timestamp() * 1000), **fields)  # type: ignore[arg-type]
    return Envelope(
        id=f"max:{update['message']['body']['mid']}", channel=Channel.MAX, received_at=moment, payload=update
    )


def _whatsapp(wa_id: str, name: str, text: str, minute: float) -> Envelope:
    moment = T0 + timedelta(minutes=minute)
    payload = {
        "MessageSid": f"SM{wa_id}{int(minute)}",
        "AccountSid": "AC1",
        "From": f"whatsapp:+{wa_id}",
        "To": "whatsapp:+14155238886",
        "WaId": wa_id,
        "ProfileName": name,
        "Body": text,
        "NumMedia": "0",
    }
    return Envelope(id=f"wa{wa_id}{minute}", channel=Channel.WHATSAPP, received_at=moment, payload=payload)


async def test_max_in_the_pipeline(store: BaseStore, settings: Settings) -> None:
    pipeline = Pipeline(store, settings)
    fake = FakeMax()
    question = "Здравствуйте! Сколько стоит замена масла на Kia Rio?"
    first = _env(fake, 0, user_id=5001, text=question, first_name="Саша", last_name="Петров")
    ingested = await pipeline.ingest(first)
    assert ingested.outcome is Outcome.INGESTED and ingested.new_person and ingested.lead_id
    assert (await pipeline.ingest(first)).outcome is Outcome.DUPLICATE

    same = await pipeline.ingest(_whatsapp("79123456789", "Alexander", question.lower(), 3))
    assert await store.root_of(same.person_id) == await store.root_of(ingested.person_id)

    await pipeline.ingest(_env(fake, 0, user_id=7007, text="Есть доставка?", first_name="Ирина"))
    contact = await pipeline.ingest(_env(fake, 1, user_id=7007, first_name="Ирина", contact_phone="89261234567"))
    later = await pipeline.ingest(_whatsapp("79261234567", "", "Добрый вечер, это снова я", 60 * 24 * 3))
    assert await store.root_of(later.person_id) == await store.root_of(contact.person_id)
