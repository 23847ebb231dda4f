"""MAX end to end: MaxClient against FakeMax, through the real aiohttp app."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from live_support import MAX_SECRET, PUBLIC, Live, live_env, message_count, person_of, start_live

from app.keys import PIPELINE
from app.webhooks import AUTH_FAILURES, OUTBOX
from connectors.avito.fake import FakeAvito
from connectors.max.fake import FakeMax
from connectors.telegram.fake import FakeTelegram
from connectors.whatsapp.fake import FakeTwilio
from core.config import Settings
from core.records import Direction, OutboxStatus
from core.values import Channel, Envelope, Ignored, Message

QUESTION = "Здравствуйте! Сколько стоит замена масла на Kia Rio?"


async def post(live: Live, max_bot: FakeMax, update: dict[str, Any], secret: str | None = MAX_SECRET) -> int:
    return await max_bot.post_update(update, url=live.url("/webhooks/max"), secret=secret)


async def test_signed_update_makes_a_person_and_a_lead(quiet_live: Live, max_bot: FakeMax) -> None:
    update = max_bot.text_update(user_id=5001, text="Здравствуйте! iPhone 13 ещё есть?", first_name="Анна")
    assert await post(quiet_live, max_bot, update) == 200
    await quiet_live.settle()
    person = await person_of(quiet_live, "max:5001")
    assert person is not None
    lead = await quiet_live.store.open_lead_of(person)
    assert lead is not None and lead.channel == "max"
    [message] = await quiet_live.store.messages_of(["max:5001"])
    assert message.provider_message_id == update["message"]["body"]["mid"]
    assert message.event_id == "max:" + update["message"]["body"]["mid"]


async def test_forged_or_missing_secret_is_refused_and_nothing_stored(live: Live, max_bot: FakeMax) -> None:
    assert await post(live, max_bot, max_bot.text_update(user_id=5001, text="hi"), secret="forged") == 401
    assert await post(live, max_bot, max_bot.text_update(user_id=5001, text="hi"), secret="") == 401
    await live.settle()
    assert await live.store.event_counts() == {}
    assert live.app[AUTH_FAILURES]["max"] == 2
    assert max_bot.sent == []


async def test_a_repeated_update_adds_nothing(quiet_live: Live, max_bot: FakeMax) -> None:
    update = max_bot.text_update(user_id=5001, text="hi")
    assert await post(quiet_live, max_bot, update) == 200
    assert await post(quiet_live, max_bot, update) == 200
    await quiet_live.settle()
    assert await message_count(quiet_live) == 1
    assert await quiet_live.store.event_counts() == {"done": 1}


async def test_malformed_is_400_with_the_reason_and_other_kinds_are_200(quiet_live: Live, max_bot: FakeMax) -> None:
    headers = {"X-Max-Bot-Api-Secret": MAX_SECRET}
    no_mid = max_bot.text_update(user_id=5001, text="hi")
    del no_mid["message"]["body"]["mid"]
    no_sender = max_bot.text_update(user_id=5001, text="hi")
    del no_sender["message"]["sender"]
    async with aiohttp.ClientSession() as session:
        url = quiet_live.url("/webhooks/max")
        async with session.post(url, data=b"{nope", headers=headers) as r:
            assert r.status == 400
            assert "not JSON" in (await r.json())["error"]
        for body, field in (
            ({"message": {}}, "update_type"),
            (no_mid, "message.body.mid"),
            (no_sender, "message.sender"),
        ):
            async with session.post(url, json=body, headers=headers) as r:
                assert r.status == 400
                assert (await r.json())["field"] == field
    edited = max_bot.text_update(user_id=5001, text="x")
    edited["update_type"] = "message_edited"
    for update in (max_bot.bot_started(user_id=5001), edited):
        assert await post(quiet_live, max_bot, update) == 200
    await quiet_live.settle()
    assert await quiet_live.store.event_counts() == {}


async def test_contact_is_asked_once_and_links_whatsapp(live: Live, max_bot: FakeMax, twilio: FakeTwilio) -> None:
    assert await post(live, max_bot, max_bot.text_update(user_id=5001, text="Есть доставка?", first_name="Анна")) == 200
    await live.settle()
    assert await post(live, max_bot, max_bot.text_update(user_id=5001, text="Ау?", first_name="Анна")) == 200
    await live.settle()
    [question] = max_bot.sent
    assert question.user_id == "5001"
    assert question.text == live.settings.max_ask_contact
    [keyboard] = question.attachments
    assert keyboard["type"] == "inline_keyboard"
    assert keyboard["payload"]["buttons"][0][0]["type"] == "request_contact"

    contact = max_bot.text_update(user_id=5001, first_name="Анна", contact_phone="+79123456789")
    assert await post(live, max_bot, contact) == 200
    fields = twilio.inbound_fields(wa_id="79123456789", body="Это Анна, пишу и сюда", profile_name="Anna")
    delivery = await twilio.post_inbound(live.url("/webhooks/whatsapp"), PUBLIC + "/webhooks/whatsapp", fields)
    assert delivery.status == 200
    await live.settle()
    assert await person_of(live, "max:5001") == await person_of(live, "whatsapp:+79123456789")
    merges = await live.store.merges()
    assert any(e.rule == "phone" for m in merges for e in m.evidence)
    assert len(max_bot.sent) == 1  # nobody is asked twice, and not once they shared a phone


async def test_the_same_question_on_max_and_whatsapp_is_one_person(
    quiet_live: Live, max_bot: FakeMax, twilio: FakeTwilio
) -> None:
    update = max_bot.text_update(user_id=5002, text=QUESTION, first_name="Саша", last_name="Петров")
    assert await post(quiet_live, max_bot, update) == 200
    await quiet_live.settle()
    fields = twilio.inbound_fields(
        wa_id="79123456789", body="здравствуйте! сколько стоит замена масла на kia rio?", profile_name="Alexander"
    )
    delivery = await twilio.post_inbound(quiet_live.url("/webhooks/whatsapp"), PUBLIC + "/webhooks/whatsapp", fields)
    assert delivery.status == 200
    await quiet_live.settle()
    person = await person_of(quiet_live, "max:5002")
    assert person is not None and person == await person_of(quiet_live, "whatsapp:+79123456789")
    details = " ".join(e.detail for m in await quiet_live.store.merges() for e in m.evidence)
    assert "MAX" in details


async def test_reply_reaches_the_customer_and_the_timeline(quiet_live: Live, max_bot: FakeMax) -> None:
    await post(quiet_live, max_bot, max_bot.text_update(user_id=5001, text="Сколько стоит?"))
    await quiet_live.settle()
    person = await person_of(quiet_live, "max:5001")
    assert person is not None
    item = await quiet_live.app[OUTBOX].send(person, "45 000 ₽, есть в наличии", actor="manager")
    assert item.status is OutboxStatus.SENT and item.channel is Channel.MAX
    [sent] = max_bot.sent
    assert (sent.user_id, sent.chat_id, sent.text) == ("5001", "", "45 000 ₽, есть в наличии")
    assert item.provider_message_id == sent.mid
    assert "POST /messages" in max_bot.calls
    timeline = await quiet_live.store.messages_of(["max:5001"])
    assert [m.direction for m in timeline] == [Direction.OUT, Direction.IN]


async def test_send_failures_are_retried_then_failed_and_blocked_marks_unreachable(
    quiet_live: Live, max_bot: FakeMax
) -> None:
    await post(quiet_live, max_bot, max_bot.text_update(user_id=5001, text="hi"))
    await quiet_live.settle()
    person = await person_of(quiet_live, "max:5001")
    assert person is not None
    max_bot.fail_flood(retry_after=2)
    max_bot.fail_server(times=1)
    ok = await quiet_live.app[OUTBOX].send(person, "first", actor="manager")
    assert ok.status is OutboxStatus.SENT and ok.attempts == 3
    assert quiet_live.sleep.pauses[0] == 2  # MAX's Retry-After wins over backoff

    max_bot.fail_server(times=3)
    failed = await quiet_live.app[OUTBOX].send(person, "second", actor="manager")
    assert failed.status is OutboxStatus.FAILED and failed.attempts == 3 and "500" in failed.error

    pauses = len(quiet_live.sleep.pauses)
    max_bot.fail_blocked()
    blocked = await quiet_live.app[OUTBOX].send(person, "third", actor="manager")
    assert blocked.status is OutboxStatus.FAILED and "blocked" in blocked.error
    assert len(quiet_live.sleep.pauses) == pauses  # a blocked bot is not retried
    profile = (await quiet_live.store.get_profiles(["max:5001"]))["max:5001"]
    assert profile.unreachable


async def test_long_polling_without_a_public_url(live_settings: Settings, max_bot: FakeMax) -> None:
    settings = replace(live_settings, public_url="", telegram_ask_contact="", max_ask_contact="")
    live = await start_live(settings)
    try:
        await max_bot.push_update(max_bot.bot_started(user_id=6006))
        await max_bot.push_update(max_bot.text_update(user_id=6006, text="через long polling"))
        for _ in range(500):
            if await live.store.person_of_profile("max:6006") is not None:
                break
            await asyncio.sleep(0.01)
            await live.settle()
        assert await person_of(live, "max:6006") is not None
        assert "GET /me" in max_bot.calls
        assert await live.store.event_counts() == {"done": 1}
    finally:
        await live.stop()


async def test_not_configured_answers_404_with_one_start_up_line(
    tmp_path: Path,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    avito: FakeAvito,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.from_env(live_env(tmp_path, telegram, twilio, avito))  # no MAX fake: no MAX token
    with caplog.at_level(logging.INFO, logger="stitch.webhooks"):
        live = await start_live(settings)
    try:
        disabled = [
            r for r in caplog.records if r.getMessage() == "channel disabled" and r.__dict__["channel"] == "max"
        ]
        assert len(disabled) == 1
        async with aiohttp.ClientSession() as session, session.post(live.url("/webhooks/max"), json={}) as r:
            assert r.status == 404
    finally:
        await live.stop()


async def test_a_webhook_body_is_parsed_once(quiet_live: Live, max_bot: FakeMax) -> None:
    pipeline = quiet_live.app[PIPELINE]
    parsed: list[str] = []
    original = pipeline.parse

    def counting(envelope: Envelope) -> Message | Ignored:
        parsed.append(envelope.id)
        return original(envelope)

    pipeline.parse = counting  # type: ignore[method-assign]
    update = max_bot.text_update(user_id=5001, text="hi")
    assert await post(quiet_live, max_bot, update) == 200
    await quiet_live.settle()
    assert await person_of(quiet_live, "max:5001") is not None
    assert parsed == ["max:" + update["message"]["body"]["mid"]]


async def test_a_form_encoded_body_that_is_not_utf8_is_400_not_a_crash(quiet_live: Live, max_bot: FakeMax) -> None:
    headers = {"X-Max-Bot-Api-Secret": MAX_SECRET, "Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession() as session:
        async with session.post(quiet_live.url("/webhooks/max"), data=b"\xff\xfe", headers=headers) as r:
            assert r.status == 400
            assert "not JSON" in (await r.json())["error"]
        # Without the secret it is refused as usual, not a server error.
        del headers["X-Max-Bot-Api-Secret"]
        async with session.post(quiet_live.url("/webhooks/max"), data=b"\xff\xfe", headers=headers) as r:
            assert r.status == 401
    await quiet_live.settle()
    assert await quiet_live.store.event_counts() == {}


async def test_a_body_nested_too_deep_is_400_not_a_crash(quiet_live: Live, max_bot: FakeMax) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    async with aiohttp.ClientSession() as session:
        for path, headers in (
            ("/webhooks/max", {"X-Max-Bot-Api-Secret": MAX_SECRET}),
            ("/forms/contact", {"Content-Type": "application/json"}),
        ):
            async with session.post(quiet_live.url(path), data=deep, headers=headers) as r:
                assert r.status == 400, path
                assert "not JSON" in await r.text()
    await quiet_live.settle()
    assert await quiet_live.store.event_counts() == {}
