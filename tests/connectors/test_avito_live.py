"""AvitoConnector and AvitoClient over HTTP against FakeAvito."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from connectors.avito.client import MAX_TEXT, AvitoClient, split_text
from connectors.avito.connector import AvitoConnector
from connectors.avito.fake import FakeAvito
from connectors.base import OutboundReply, WebhookRequest
from connectors.retry import with_retries
from core.errors import AuthError, ParseError, ProviderError
from core.values import Channel, Envelope

CLIENT_ID = "avito-client"
CLIENT_SECRET = "avito-client-secret"
HOOK_SECRET = "Qm9vb3Nocy1zZWNyZXQtcGF0aA"
BUYER = 55501234
CHAT = "u2i-Zb7x2N5b~hCkD3kqVjJ7nw"


class Clock:
    """A hand-moved monotonic clock for TTLs."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingSleep:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.pauses.append(delay)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAvito]:
    server = FakeAvito(CLIENT_ID, CLIENT_SECRET)
    await server.start()
    server.add_chat(CHAT, buyer_id=BUYER, buyer_name="Мария")
    yield server
    await server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def conn(fake: FakeAvito, clock: Clock) -> AsyncIterator[AvitoConnector]:
    client = AvitoClient(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=fake.base_url, chat_ttl=60, clock=clock
    )
    connector = AvitoConnector(client, webhook_secret=HOOK_SECRET)
    yield connector
    await connector.close()


def reply(text: str) -> OutboundReply:
    return OutboundReply(reply_id="r1", channel=Channel.AVITO, chat_id=CHAT, user_id=str(BUYER), text=text)


def envelope_of(conn: AvitoConnector, body: dict[str, Any]) -> Envelope:
    request = WebhookRequest(path=f"/webhooks/avito/{HOOK_SECRET}", headers={}, body=json.dumps(body).encode())
    env = conn.envelope(request, datetime.now(UTC))
    assert env is not None
    return env


async def test_token_fetched_once_and_cached(fake: FakeAvito, conn: AvitoConnector) -> None:
    await conn.send(reply("Здравствуйте!"))
    await conn.send(reply("Да, в наличии."))
    assert fake.state.token_requests == 1
    assert fake.state.self_requests == 1
    assert [(m.chat_id, m.text) for m in fake.sent] == [(CHAT, "Здравствуйте!"), (CHAT, "Да, в наличии.")]


async def test_token_refetched_after_forced_expiry(fake: FakeAvito, conn: AvitoConnector) -> None:
    await conn.send(reply("one"))
    fake.expire_tokens()
    await conn.send(reply("two"))
    assert fake.state.token_requests == 2
    assert fake.state.unauthorized == 1
    assert [m.text for m in fake.sent] == ["one", "two"]


async def test_token_refetched_when_its_lifetime_runs_out(fake: FakeAvito, conn: AvitoConnector, clock: Clock) -> None:
    await conn.send(reply("one"))
    clock.now += 86400
    await conn.send(reply("two"))
    assert fake.state.token_requests == 2
    assert fake.state.unauthorized == 0


async def test_wrong_credentials_fail_without_looping(fake: FakeAvito) -> None:
    client = AvitoClient(client_id=CLIENT_ID, client_secret="wrong", base_url=fake.base_url)
    try:
        with pytest.raises(ProviderError) as info:
            await client.user_id()
        assert not info.value.retryable
    finally:
        await client.close()
    assert fake.state.token_requests == 1


async def test_send_splits_long_text(fake: FakeAvito, conn: AvitoConnector) -> None:
    text = ("Слово " * 400).strip()  # 2399 characters
    result = await conn.send(reply(text))
    assert len(fake.sent) == 3
    assert all(len(m.text) <= MAX_TEXT for m in fake.sent)
    assert "".join(m.text for m in fake.sent) == text
    assert result.provider_message_id == fake.sent[0].id


def test_split_text() -> None:
    assert split_text("short") == ["short"]
    assert split_text("") == [""]
    assert split_text("x" * 2500) == ["x" * 1000, "x" * 1000, "x" * 500]
    lines = "a" * 700 + "\n" + "b" * 700
    assert split_text(lines) == ["a" * 700 + "\n", "b" * 700]


async def test_rate_limit_carries_retry_after_and_is_retried(fake: FakeAvito, conn: AvitoConnector) -> None:
    await conn.client.user_id()
    fake.fail_next(429, retry_after=4)
    fake.fail_next(502)
    sleep = RecordingSleep()
    await with_retries(lambda: conn.send(reply("hi")), attempts=3, base_delay=1, max_delay=5, sleep=sleep)
    assert sleep.pauses[0] == 4
    assert len(sleep.pauses) == 2
    assert [m.text for m in fake.sent] == ["hi"]


async def test_chat_info_cached_with_ttl(fake: FakeAvito, conn: AvitoConnector, clock: Clock) -> None:
    first = envelope_of(conn, fake.webhook_body(chat_id=CHAT, author_id=BUYER, text="Ещё продаётся?"))
    second = envelope_of(conn, fake.webhook_body(chat_id=CHAT, author_id=BUYER, text="Торг уместен?"))
    enriched = await conn.enrich(first)
    await conn.enrich(second)
    buyer = next(u for u in enriched.lookups["chat"]["users"] if u["id"] == BUYER)
    assert buyer["name"] == "Мария"
    assert enriched.lookups["chat"]["context"]["value"]["title"] == "iPhone 13, 128 GB"
    assert fake.state.chat_requests[CHAT] == 1
    clock.now += 61
    await conn.enrich(second)
    assert fake.state.chat_requests[CHAT] == 2


async def test_echo_and_system_messages_are_not_enriched(fake: FakeAvito, conn: AvitoConnector) -> None:
    echo = envelope_of(conn, fake.webhook_body(chat_id=CHAT, author_id=fake.user_id, text="наш ответ"))
    system = envelope_of(conn, fake.webhook_body(chat_id=CHAT, author_id=0, msg_type="system", text="Авито"))
    assert await conn.enrich(echo) is echo
    assert await conn.enrich(system) is system
    assert fake.state.chat_requests[CHAT] == 0


async def test_failed_lookup_keeps_the_event(
    fake: FakeAvito, conn: AvitoConnector, caplog: pytest.LogCaptureFixture
) -> None:
    secret_text = "мой номер 89123456789"
    env = envelope_of(conn, fake.webhook_body(chat_id="u2i-unknown", author_id=BUYER, text=secret_text))
    with caplog.at_level(logging.WARNING, logger="stitch.connectors.avito"):
        enriched = await conn.enrich(env)
    assert enriched.lookups == {}
    assert enriched.id == env.id
    assert caplog.records
    assert all(secret_text not in r.getMessage() and "89123456789" not in str(r.__dict__) for r in caplog.records)


def _hook(path: str, body: bytes = b"{}") -> WebhookRequest:
    return WebhookRequest(path=path, headers={"content-type": "application/json"}, body=body)


def test_secret_path_verified(conn: AvitoConnector) -> None:
    conn.verify(_hook(f"/webhooks/avito/{HOOK_SECRET}"))
    conn.verify(_hook(f"/webhooks/avito/{HOOK_SECRET}?x=1"))
    for forged in (
        f"/webhooks/avito/{HOOK_SECRET}x",
        f"/webhooks/avito/{HOOK_SECRET[:-1]}",
        "/webhooks/avito/",
        "/webhooks/avito/%D0%B6",
    ):
        with pytest.raises(AuthError):
            conn.verify(_hook(forged))


async def test_empty_secret_refuses_everything(fake: FakeAvito) -> None:
    connector = AvitoConnector.create(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_secret="", api_base=fake.base_url
    )
    try:
        with pytest.raises(AuthError):
            connector.verify(_hook("/webhooks/avito/"))
    finally:
        await connector.close()


def test_envelope_probe_event_and_garbage(fake: FakeAvito, conn: AvitoConnector) -> None:
    now = datetime.now(UTC)
    path = f"/webhooks/avito/{HOOK_SECRET}"
    assert conn.envelope(_hook(path, b"{}"), now) is None
    body = fake.webhook_body(chat_id=CHAT, author_id=BUYER, text="hi", message_id="m-1")
    env = conn.envelope(_hook(path, json.dumps(body).encode()), now)
    assert env is not None
    assert (env.id, env.channel) == ("avito:m-1", Channel.AVITO)
    for bad in (b"nope", b"[]", b'{"payload": {}}', b'{"payload": {"value": {"chat_id": "c"}}}'):
        with pytest.raises(ParseError):
            conn.envelope(_hook(path, bad), now)


async def test_subscribe_is_probed_and_a_webhook_post_flows(fake: FakeAvito, conn: AvitoConnector) -> None:
    received: list[Envelope] = []

    async def endpoint(request: web.Request) -> web.Response:
        hook = WebhookRequest(path=request.path_qs, headers=dict(request.headers), body=await request.read())
        try:
            conn.verify(hook)
        except AuthError:
            return web.Response(status=401)
        env = conn.envelope(hook, datetime.now(UTC))
        if env is not None:
            received.append(await conn.enrich(env))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/webhooks/avito/{secret}", endpoint)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}/webhooks/avito/"
    try:
        await conn.subscribe(base + HOOK_SECRET)
        assert [(s.url, s.probe_ok) for s in fake.subscriptions] == [(base + HOOK_SECRET, True)]
        assert received == []  # the probe stores nothing
        body = fake.webhook_body(chat_id=CHAT, author_id=BUYER, text="Добрый день")
        assert await fake.post_webhook(base + HOOK_SECRET, body) == 200
        assert await fake.post_webhook(base + "guess", body) == 401
    finally:
        await runner.cleanup()
    [env] = received
    assert env.payload == body
    assert env.lookups["chat"]["id"] == CHAT
