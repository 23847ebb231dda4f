"""TelegramConnector through a real aiogram Bot against FakeTelegram."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from connectors.base import OutboundReply, WebhookRequest
from connectors.retry import with_retries
from connectors.telegram.bot import TelegramConnector
from connectors.telegram.fake import FakeTelegram
from core.errors import AuthError, ChannelUnavailable, ParseError, ProviderError
from core.values import Channel, Envelope

TOKEN = "42:TEST"
SECRET = "s3cret-token_value"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def conn(fake: FakeTelegram) -> AsyncIterator[TelegramConnector]:
    connector = TelegramConnector.create(TOKEN, api_base=fake.base_url, webhook_secret=SECRET)
    yield connector
    await connector.close()


def reply(chat_id: str = "1001", text: str = "Здравствуйте! Чем помочь?") -> OutboundReply:
    return OutboundReply(reply_id="r1", channel=Channel.TELEGRAM, chat_id=chat_id, user_id=chat_id, text=text)


class RecordingSleep:
    """Records pauses instead of taking them."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.pauses.append(delay)


async def test_send_arrives_with_chat_id_and_text(fake: FakeTelegram, conn: TelegramConnector) -> None:
    result = await conn.send(reply())
    assert [(m.chat_id, m.text) for m in fake.sent] == [("1001", "Здравствуйте! Чем помочь?")]
    assert result.provider_message_id == str(fake.sent[0].message_id)
    assert result.sent_at.tzinfo is not None


async def test_blocked_bot_is_channel_unavailable_and_not_retried(fake: FakeTelegram, conn: TelegramConnector) -> None:
    fake.fail_blocked(times=5)
    sleep = RecordingSleep()
    with pytest.raises(ChannelUnavailable):
        await with_retries(lambda: conn.send(reply()), attempts=5, base_delay=1, max_delay=5, sleep=sleep)
    assert sleep.pauses == []
    assert fake.calls.count("sendMessage") == 1


async def test_flood_control_is_retried_after_retry_after(fake: FakeTelegram, conn: TelegramConnector) -> None:
    fake.fail_flood(retry_after=7)
    with pytest.raises(ProviderError) as info:
        await conn.send(reply())
    assert info.value.status == 429
    assert info.value.retry_after == 7

    fake.fail_flood(retry_after=3)
    sleep = RecordingSleep()
    await with_retries(lambda: conn.send(reply()), attempts=3, base_delay=1, max_delay=5, sleep=sleep)
    assert sleep.pauses == [3]
    assert len(fake.sent) == 1


async def test_server_error_is_retryable_provider_error(fake: FakeTelegram, conn: TelegramConnector) -> None:
    fake.fail_server(times=2)
    sleep = RecordingSleep()
    await with_retries(lambda: conn.send(reply()), attempts=3, base_delay=1, max_delay=5, sleep=sleep)
    assert len(sleep.pauses) == 2
    assert len(fake.sent) == 1


async def test_ask_contact_sends_request_contact_keyboard(fake: FakeTelegram, conn: TelegramConnector) -> None:
    await conn.ask_contact("1001", "Оставьте номер, пожалуйста")
    markup = fake.sent[0].reply_markup
    assert markup is not None
    assert markup["keyboard"][0][0]["request_contact"] is True
    assert markup["one_time_keyboard"] is True


async def test_wrong_token_is_provider_error(fake: FakeTelegram) -> None:
    connector = TelegramConnector.create("43:WRONG", api_base=fake.base_url)
    try:
        with pytest.raises(ProviderError) as info:
            await connector.send(reply())
        assert info.value.status == 401
        assert not info.value.retryable
    finally:
        await connector.close()


async def test_long_polling_receives_pushed_updates_in_order(fake: FakeTelegram, conn: TelegramConnector) -> None:
    seen: list[Envelope] = []
    stop = asyncio.Event()

    async def handle(envelope: Envelope) -> None:
        seen.append(envelope)
        if len(seen) == 2:
            stop.set()

    first = await fake.push_update(fake.text_update(user_id=1001, text="привет"))
    task = asyncio.create_task(conn.poll(handle, stop, timeout=5))
    second = await fake.push_update(fake.text_update(user_id=1002, contact_phone="79123456789"))
    await asyncio.wait_for(task, 10)

    assert [e.id for e in seen] == [f"telegram:{first['update_id']}", f"telegram:{second['update_id']}"]
    assert seen[0].payload["message"]["from"]["id"] == 1001
    assert seen[0].payload["message"]["date"] == first["message"]["date"]
    assert seen[1].payload["message"]["contact"]["phone_number"] == "79123456789"
    assert fake.calls[0] == "getMe"


async def test_polling_stops_promptly_while_waiting(fake: FakeTelegram, conn: TelegramConnector) -> None:
    stop = asyncio.Event()

    async def handle(envelope: Envelope) -> None:
        raise AssertionError("no updates were pushed")

    task = asyncio.create_task(conn.poll(handle, stop, timeout=30))
    while "getUpdates" not in fake.calls:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_polling_refused_while_webhook_set(fake: FakeTelegram, conn: TelegramConnector) -> None:
    await conn.set_webhook("https://stitch.example/webhooks/telegram", SECRET)
    assert fake.webhook_secret == SECRET
    with pytest.raises(ChannelUnavailable):
        await conn.poll(lambda e: asyncio.sleep(0), asyncio.Event(), timeout=1)
    await conn.delete_webhook()
    assert fake.webhook_url == ""


def _request(body: bytes, secret: str | None) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-telegram-bot-api-secret-token"] = secret
    return WebhookRequest(path="/webhooks/telegram", headers=headers, body=body)


async def test_webhook_secret_verified_through_a_real_post(fake: FakeTelegram, conn: TelegramConnector) -> None:
    """setWebhook, then the fake posts an update with the secret header to a local endpoint."""
    received: list[Envelope] = []

    async def endpoint(request: web.Request) -> web.Response:
        hook = WebhookRequest(
            path=request.path_qs,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
        )
        try:
            conn.verify(hook)
        except AuthError:
            return web.Response(status=401)
        received.append(conn.envelope(hook, datetime.now(UTC)))
        return web.Response()

    app = web.Application()
    app.router.add_post("/webhooks/telegram", endpoint)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        url = f"http://{host}:{port}/webhooks/telegram"
        await conn.set_webhook(url, SECRET)
        assert await fake.post_update(fake.text_update(user_id=7, text="hi")) == 200
        assert await fake.post_update(fake.text_update(user_id=7, text="x"), secret="forged") == 401
    finally:
        await runner.cleanup()
    assert len(received) == 1
    assert received[0].payload["message"]["chat"]["id"] == 7


def test_verify_accepts_secret_and_rejects_forged_or_missing(conn: TelegramConnector) -> None:
    conn.verify(_request(b"{}", SECRET))
    with pytest.raises(AuthError):
        conn.verify(_request(b"{}", SECRET + "x"))
    with pytest.raises(AuthError):
        conn.verify(_request(b"{}", None))


async def test_verify_refuses_everything_without_a_configured_secret(fake: FakeTelegram) -> None:
    connector = TelegramConnector.create(TOKEN, api_base=fake.base_url)
    try:
        with pytest.raises(AuthError):
            connector.verify(_request(b"{}", ""))
    finally:
        await connector.close()


def test_envelope_uses_update_id_and_rejects_garbage(conn: TelegramConnector) -> None:
    now = datetime.now(UTC)
    body = json.dumps({"update_id": 55, "message": {"message_id": 1}}).encode()
    env = conn.envelope(_request(body, SECRET), now)
    assert (env.id, env.channel, env.received_at) == ("telegram:55", Channel.TELEGRAM, now)
    for bad in (b"not json", b"[]", b'{"message": {}}', b'{"update_id": "5"}'):
        with pytest.raises(ParseError):
            conn.envelope(_request(bad, SECRET), now)
