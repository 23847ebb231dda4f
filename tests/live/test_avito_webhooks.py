"""Avito end to end: the aiohttp Avito client against FakeAvito, webhooks through the real app."""

from __future__ import annotations

from live_support import AVITO_SECRET, Live, message_count, person_of, start_live

from app.keys import PROCESSOR
from app.webhooks import AUTH_FAILURES, CONNECTORS, OUTBOX
from connectors.avito.connector import AvitoConnector
from connectors.avito.fake import FakeAvito
from core.config import Settings
from core.records import OutboxStatus
from core.values import Channel

BUYER = 555001
CHAT = "u2i-abc123"


def hook(live: Live, secret: str = AVITO_SECRET) -> str:
    return live.url(f"/webhooks/avito/{secret}")


async def buyer(live: Live, avito: FakeAvito) -> str:
    avito.add_chat(CHAT, buyer_id=BUYER, buyer_name="Анна")
    body = avito.webhook_body(chat_id=CHAT, author_id=BUYER, text="Здравствуйте, ещё продаётся?")
    assert await avito.post_webhook(hook(live), body) == 200
    await live.settle()
    person = await person_of(live, f"avito:{BUYER}")
    assert person is not None
    return person


async def test_message_makes_a_person_named_from_chat_info(live: Live, avito: FakeAvito) -> None:
    person = await buyer(live, avito)
    found = await live.store.get_person(person)
    assert found is not None and found.display_name == "Анна"
    assert await live.store.open_lead_of(person) is not None


async def test_probe_answers_200_and_stores_nothing(live: Live, avito: FakeAvito) -> None:
    assert await avito.post_webhook(hook(live), {}) == 200
    assert await live.store.event_counts() == {}


async def test_subscription_probe_reaches_the_live_route(live: Live, avito: FakeAvito) -> None:
    avito_connector = live.app[CONNECTORS][Channel.AVITO]
    assert isinstance(avito_connector, AvitoConnector)
    await avito_connector.subscribe(hook(live))
    assert [s.probe_ok for s in avito.subscriptions] == [True]


async def test_wrong_secret_is_rejected_and_nothing_stored(live: Live, avito: FakeAvito) -> None:
    avito.add_chat(CHAT, buyer_id=BUYER, buyer_name="Анна")
    body = avito.webhook_body(chat_id=CHAT, author_id=BUYER, text="hi")
    assert await avito.post_webhook(hook(live, "guessed"), body) == 403
    await live.settle()
    assert await live.store.event_counts() == {}
    assert live.app[AUTH_FAILURES]["avito"] == 1


async def test_duplicate_delivery_and_own_echo(live: Live, avito: FakeAvito) -> None:
    avito.add_chat(CHAT, buyer_id=BUYER, buyer_name="Анна")
    body = avito.webhook_body(chat_id=CHAT, author_id=BUYER, text="hi", message_id="m-1")
    assert await avito.post_webhook(hook(live), body) == 200
    assert await avito.post_webhook(hook(live), body) == 200
    echo = avito.webhook_body(chat_id=CHAT, author_id=avito.user_id, text="our answer")
    assert await avito.post_webhook(hook(live), echo) == 200
    await live.settle()
    assert await message_count(live) == 1
    assert await live.store.event_counts() == {"done": 1, "ignored": 1}


async def test_malformed_body_is_400(live: Live, avito: FakeAvito) -> None:
    assert await avito.post_webhook(hook(live), {"payload": {"type": "message"}}) == 400
    assert await live.store.event_counts() == {}


async def test_reply_reaches_the_buyers_chat(live: Live, avito: FakeAvito) -> None:
    person = await buyer(live, avito)
    item = await live.app[OUTBOX].send(person, "Да, продаётся", actor="manager")
    assert item.status is OutboxStatus.SENT
    [sent] = avito.sent
    assert (sent.chat_id, sent.text, sent.user_id) == (CHAT, "Да, продаётся", avito.user_id)
    assert item.provider_message_id == sent.id


async def test_send_failure_is_retried_honouring_retry_after_then_failed(live: Live, avito: FakeAvito) -> None:
    person = await buyer(live, avito)
    avito.fail_next(429, retry_after=4)
    ok = await live.app[OUTBOX].send(person, "first", actor="manager")
    assert ok.status is OutboxStatus.SENT and ok.attempts == 2
    assert live.sleep.pauses == [4]
    avito.fail_next(502, times=3)
    failed = await live.app[OUTBOX].send(person, "second", actor="manager")
    assert failed.status is OutboxStatus.FAILED and "502" in failed.error
    assert [i.status for i in await live.store.outbox_of([person])] == [OutboxStatus.FAILED, OutboxStatus.SENT]


async def test_crash_after_receipt_is_processed_on_restart(live_settings: Settings, avito: FakeAvito) -> None:
    avito.add_chat(CHAT, buyer_id=BUYER, buyer_name="Анна")
    first = await start_live(live_settings)
    first.app[PROCESSOR].submit = lambda event_id: None  # type: ignore[method-assign]  # dies before resolving
    try:
        body = avito.webhook_body(chat_id=CHAT, author_id=BUYER, text="hi")
        assert await avito.post_webhook(hook(first), body) == 200
        assert await first.store.event_counts() == {"pending": 1}
    finally:
        await first.stop()
    second = await start_live(live_settings)
    try:
        assert await second.store.event_counts() == {"done": 1}
        person = await person_of(second, f"avito:{BUYER}")
        assert person is not None
        found = await second.store.get_person(person)
        assert found is not None and found.display_name == "Анна"  # the chat info was stored with the event
    finally:
        await second.stop()
