"""Telegram end to end: aiogram against FakeTelegram, through the real aiohttp app."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
from live_support import PUBLIC, TG_SECRET, Live, message_count, person_of, start_live

from app.keys import PROCESSOR
from app.webhooks import AUTH_FAILURES, OUTBOX
from connectors.telegram.fake import FakeTelegram
from connectors.whatsapp.fake import FakeTwilio
from core.config import Settings
from core.records import Direction, EventStatus, OutboxStatus


async def post(live: Live, telegram: FakeTelegram, update: dict[str, object], secret: str | None = TG_SECRET) -> int:
    return await telegram.post_update(update, url=live.url("/webhooks/telegram"), secret=secret)


async def test_signed_update_makes_a_person_and_a_lead(quiet_live: Live, telegram: FakeTelegram) -> None:
    update = telegram.text_update(user_id=1001, text="Здравствуйте! iPhone 13 ещё есть?", first_name="Анна")
    assert await post(quiet_live, telegram, update) == 200
    await quiet_live.settle()
    person = await person_of(quiet_live, "telegram:1001")
    assert person is not None
    lead = await quiet_live.store.open_lead_of(person)
    assert lead is not None and lead.channel == "telegram"


async def test_forged_or_missing_secret_is_rejected_and_nothing_stored(live: Live, telegram: FakeTelegram) -> None:
    update = telegram.text_update(user_id=1001, text="hi")
    assert await post(live, telegram, update, secret="forged") == 401
    assert await post(live, telegram, telegram.text_update(user_id=1001, text="hi"), secret="") == 401
    await live.settle()
    assert await live.store.event_counts() == {}
    assert live.app[AUTH_FAILURES]["telegram"] == 2


async def test_duplicate_delivery_stores_one_message(quiet_live: Live, telegram: FakeTelegram) -> None:
    update = telegram.text_update(user_id=1001, text="hi")
    update = {"update_id": 500, **update}
    assert await post(quiet_live, telegram, update) == 200
    assert await post(quiet_live, telegram, update) == 200
    await quiet_live.settle()
    assert await message_count(quiet_live) == 1
    assert await quiet_live.store.event_counts() == {"done": 1}


async def test_malformed_body_is_400_and_unknown_kinds_are_200(quiet_live: Live, telegram: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        async with session.post(quiet_live.url("/webhooks/telegram"), data=b"{nope", headers=headers) as r:
            assert r.status == 400
            assert "not JSON" in (await r.json())["error"]
        async with session.post(quiet_live.url("/webhooks/telegram"), json={"message": {}}, headers=headers) as r:
            assert r.status == 400
    edited = {"update_id": 9, "edited_message": telegram.text_update(user_id=5, text="x")["message"]}
    sticker = telegram.text_update(user_id=5)
    sticker["message"].pop("text")
    sticker["message"]["sticker"] = {"file_id": "f", "emoji": "👍"}
    callback = {"update_id": 11, "callback_query": {"id": "1", "from": {"id": 5, "is_bot": False, "first_name": "A"}}}
    for update in (edited, sticker, callback):
        assert await post(quiet_live, telegram, update) == 200
    await quiet_live.settle()
    counts = await quiet_live.store.event_counts()
    assert counts.get("pending", 0) == 0 and counts.get("ignored") == 2 and counts.get("done") == 1


async def test_contact_is_asked_once_and_links_whatsapp(live: Live, telegram: FakeTelegram, twilio: FakeTwilio) -> None:
    assert (
        await post(live, telegram, telegram.text_update(user_id=1001, text="Есть доставка?", first_name="Анна")) == 200
    )
    await live.settle()
    assert await post(live, telegram, telegram.text_update(user_id=1001, text="Ау?", first_name="Анна")) == 200
    await live.settle()
    [question] = telegram.sent
    assert question.chat_id == "1001"
    assert question.text == live.settings.telegram_ask_contact
    assert question.reply_markup is not None and question.reply_markup["keyboard"][0][0]["request_contact"] is True

    contact = telegram.text_update(user_id=1001, first_name="Анна", contact_phone="79123456789")
    assert await post(live, telegram, contact) == 200
    fields = twilio.inbound_fields(wa_id="79123456789", body="Это Анна, пишу и сюда", profile_name="Anna")
    delivery = await twilio.post_inbound(live.url("/webhooks/whatsapp"), PUBLIC + "/webhooks/whatsapp", fields)
    assert delivery.status == 200
    await live.settle()
    assert await person_of(live, "telegram:1001") == await person_of(live, "whatsapp:+79123456789")
    assert len(telegram.sent) == 1  # nobody is asked twice, and not once they shared a phone


async def test_empty_setting_turns_the_question_off(quiet_live: Live, telegram: FakeTelegram) -> None:
    assert await post(quiet_live, telegram, telegram.text_update(user_id=1001, text="hi")) == 200
    await quiet_live.settle()
    assert telegram.sent == []


async def test_reply_arrives_in_the_customers_chat_and_the_timeline(quiet_live: Live, telegram: FakeTelegram) -> None:
    await post(quiet_live, telegram, telegram.text_update(user_id=1001, text="Сколько стоит?"))
    await quiet_live.settle()
    person = await person_of(quiet_live, "telegram:1001")
    assert person is not None
    item = await quiet_live.app[OUTBOX].send(person, "45 000 ₽, есть в наличии", actor="manager")
    assert item.status is OutboxStatus.SENT
    [sent] = telegram.sent
    assert (sent.chat_id, sent.text) == ("1001", "45 000 ₽, есть в наличии")
    assert item.provider_message_id == str(sent.message_id)
    timeline = await quiet_live.store.messages_of(["telegram:1001"])
    assert [m.direction for m in timeline] == [Direction.OUT, Direction.IN]


async def test_blocked_bot_marks_the_profile_unreachable(quiet_live: Live, telegram: FakeTelegram) -> None:
    await post(quiet_live, telegram, telegram.text_update(user_id=1001, text="hi"))
    await quiet_live.settle()
    person = await person_of(quiet_live, "telegram:1001")
    assert person is not None
    telegram.fail_blocked()
    item = await quiet_live.app[OUTBOX].send(person, "Здравствуйте", actor="manager")
    assert item.status is OutboxStatus.FAILED and "blocked" in item.error
    assert quiet_live.sleep.pauses == []
    profile = (await quiet_live.store.get_profiles(["telegram:1001"]))["telegram:1001"]
    assert profile.unreachable


async def test_send_failure_is_retried_then_failed_and_visible(quiet_live: Live, telegram: FakeTelegram) -> None:
    await post(quiet_live, telegram, telegram.text_update(user_id=1001, text="hi"))
    await quiet_live.settle()
    person = await person_of(quiet_live, "telegram:1001")
    assert person is not None
    telegram.fail_flood(retry_after=2)
    telegram.fail_server(times=1)
    ok = await quiet_live.app[OUTBOX].send(person, "first", actor="manager")
    assert ok.status is OutboxStatus.SENT and ok.attempts == 3
    assert quiet_live.sleep.pauses[0] == 2  # Telegram's retry_after wins over backoff

    telegram.fail_server(times=3)
    failed = await quiet_live.app[OUTBOX].send(person, "second", actor="manager")
    assert failed.status is OutboxStatus.FAILED and failed.attempts == 3
    assert "500" in failed.error
    shown = await quiet_live.store.outbox_of([person])
    assert [(i.text, i.status) for i in shown] == [("second", OutboxStatus.FAILED), ("first", OutboxStatus.SENT)]


async def test_crash_after_receipt_is_processed_on_restart(live_settings: Settings, telegram: FakeTelegram) -> None:
    settings = replace(live_settings, telegram_ask_contact="")
    first = await start_live(settings)
    first.app[PROCESSOR].submit = lambda event_id: None  # type: ignore[method-assign]  # dies before resolving
    try:
        assert await post(first, telegram, telegram.text_update(user_id=1001, text="hi")) == 200
        assert await first.store.event_counts() == {"pending": 1}
    finally:
        await first.stop()
    second = await start_live(settings)
    try:
        assert await second.store.event_counts() == {"done": 1}
        assert await person_of(second, "telegram:1001") is not None
    finally:
        await second.stop()


async def test_long_polling_without_a_public_url(live_settings: Settings, telegram: FakeTelegram) -> None:
    settings = replace(live_settings, public_url="", telegram_ask_contact="")
    live = await start_live(settings)
    try:
        await telegram.push_update(telegram.text_update(user_id=2002, text="через polling"))
        for _ in range(500):
            if await live.store.event_status("telegram:1") is EventStatus.DONE:
                break
            await asyncio.sleep(0.01)
        await live.settle()
        assert await person_of(live, "telegram:2002") is not None
    finally:
        await live.stop()
