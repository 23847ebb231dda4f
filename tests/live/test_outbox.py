"""Outbox choices and crash recovery, and channels without credentials."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from live_support import PUBLIC, TG_SECRET, Live, person_of, start_live

from app.webhooks import OUTBOX
from connectors.avito.fake import FakeAvito
from connectors.telegram.fake import FakeTelegram
from connectors.whatsapp.fake import FakeTwilio
from core.config import Settings
from core.errors import ChannelUnavailable
from core.records import OutboxItem, OutboxStatus
from core.values import Channel


async def two_channel_customer(live: Live, telegram: FakeTelegram, twilio: FakeTwilio) -> str:
    """A customer who wrote on Telegram (shared contact), then on WhatsApp."""
    contact = telegram.text_update(user_id=1001, first_name="Анна", contact_phone="79123456789")
    assert await telegram.post_update(contact, url=live.url("/webhooks/telegram"), secret=TG_SECRET) == 200
    await live.settle()
    fields = twilio.inbound_fields(wa_id="79123456789", body="Пишу в WhatsApp", profile_name="Anna")
    await twilio.post_inbound(live.url("/webhooks/whatsapp"), PUBLIC + "/webhooks/whatsapp", fields)
    await live.settle()
    person = await person_of(live, "telegram:1001")
    assert person is not None and person == await person_of(live, "whatsapp:+79123456789")
    return person


async def test_default_is_the_channel_written_last_and_a_choice_is_honoured(
    quiet_live: Live, telegram: FakeTelegram, twilio: FakeTwilio
) -> None:
    person = await two_channel_customer(quiet_live, telegram, twilio)
    outbox = quiet_live.app[OUTBOX]
    assert (await outbox.send(person, "по умолчанию", actor="m")).channel is Channel.WHATSAPP
    assert (await outbox.send(person, "в Telegram", Channel.TELEGRAM, actor="m")).channel is Channel.TELEGRAM
    assert [m.body for m in twilio.messages] == ["по умолчанию"]
    assert [m.text for m in telegram.sent] == ["в Telegram"]


async def test_closed_window_falls_back_to_telegram_by_default(
    quiet_live: Live, telegram: FakeTelegram, twilio: FakeTwilio
) -> None:
    person = await two_channel_customer(quiet_live, telegram, twilio)
    outbox = quiet_live.app[OUTBOX]
    outbox.clock = lambda: datetime.now(UTC) + timedelta(hours=30)
    item = await outbox.send(person, "ответ", actor="m")
    assert item.channel is Channel.TELEGRAM
    with pytest.raises(ChannelUnavailable, match="24-hour window"):
        await outbox.send(person, "ответ", Channel.WHATSAPP, actor="m")
    with pytest.raises(ChannelUnavailable, match="has not written on avito"):
        await outbox.send(person, "ответ", Channel.AVITO, actor="m")


async def test_queued_replies_are_sent_at_start_up_once(
    live_settings: Settings, telegram: FakeTelegram, twilio: FakeTwilio
) -> None:
    settings = replace(live_settings, telegram_ask_contact="")
    first = await start_live(settings)
    try:
        person = await two_channel_customer(first, telegram, twilio)
        old = datetime.now(UTC) - timedelta(minutes=1)

        def item(item_id: str, **changes: object) -> OutboxItem:
            base = OutboxItem(
                id=item_id,
                person_id=person,
                profile_key="telegram:1001",
                channel=Channel.TELEGRAM,
                text=item_id,
                status=OutboxStatus.QUEUED,
                created_at=old,
                updated_at=old,
                actor="m",
            )
            return replace(base, **changes)  # type: ignore[arg-type]

        async with first.store.atomic():
            # Stored, then the process died before any provider call.
            await first.store.add_outbox(item("never-tried"))
            # Died during the provider call: outcome unknown, re-sent (at-least-once).
            await first.store.add_outbox(item("unknown-outcome", attempts=1))
            # The provider answered, only the status write was lost: not sent again.
            await first.store.add_outbox(item("accepted", attempts=1, provider_message_id="77"))
            # Too young: may still be in another worker's hands.
            await first.store.add_outbox(item("in-flight", created_at=datetime.now(UTC) + timedelta(hours=1)))
    finally:
        await first.stop()

    second = await start_live(settings)
    try:
        statuses: dict[str, OutboxStatus] = {}
        for _ in range(500):
            statuses = {i.id: i.status for i in await second.store.outbox_of([person])}
            if list(statuses.values()).count(OutboxStatus.QUEUED) == 1:
                break
            await asyncio.sleep(0.01)
        assert sorted(m.text for m in telegram.sent) == ["never-tried", "unknown-outcome"]
        assert statuses == {
            "never-tried": OutboxStatus.SENT,
            "unknown-outcome": OutboxStatus.SENT,
            "accepted": OutboxStatus.SENT,
            "in-flight": OutboxStatus.QUEUED,
        }
    finally:
        await second.stop()


async def test_channels_without_credentials_answer_404(
    telegram: FakeTelegram, twilio: FakeTwilio, avito: FakeAvito, live_settings: Settings
) -> None:
    bare = Settings(store_url=live_settings.store_url)
    live = await start_live(bare)
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/webhooks/telegram", "/webhooks/whatsapp", "/webhooks/whatsapp/status", "/webhooks/avito/x"):
                async with session.post(live.url(path), data=b"{}") as r:
                    assert r.status == 404, path
            async with session.get(live.url("/readyz")) as r:
                assert r.status == 200
    finally:
        await live.stop()
