"""WhatsApp end to end: the twilio Client against FakeTwilio, signed posts through the real app."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from live_support import PUBLIC, Live, message_count, person_of, start_live

from app.keys import PROCESSOR
from app.webhooks import AUTH_FAILURES, OUTBOX
from connectors.whatsapp.fake import Delivery, FakeTwilio
from core.config import Settings
from core.errors import ChannelUnavailable
from core.records import OutboxStatus
from core.values import Channel

CUSTOMER = "79123456789"


async def inbound(live: Live, twilio: FakeTwilio, fields: dict[str, str], token: str | None = None) -> Delivery:
    path = "/webhooks/whatsapp"
    return await twilio.post_inbound(live.url(path), PUBLIC + path, fields, auth_token=token)


async def status(live: Live, twilio: FakeTwilio, sid: str, value: str, code: str | None = None) -> Delivery:
    path = "/webhooks/whatsapp/status"
    return await twilio.post_status(live.url(path), PUBLIC + path, message_sid=sid, status=value, error_code=code)


async def customer(live: Live, twilio: FakeTwilio) -> str:
    fields = twilio.inbound_fields(wa_id=CUSTOMER, body="Добрый день, заказ готов?", profile_name="Anna")
    delivery = await inbound(live, twilio, fields)
    assert delivery.status == 200
    await live.settle()
    person = await person_of(live, "whatsapp:+" + CUSTOMER)
    assert person is not None
    return person


async def test_signed_message_makes_a_person_and_answers_empty_twiml(live: Live, twilio: FakeTwilio) -> None:
    fields = twilio.inbound_fields(wa_id=CUSTOMER, body="Здравствуйте", profile_name="Anna")
    delivery = await inbound(live, twilio, fields)
    assert (delivery.status, delivery.content_type) == (200, "text/xml")
    assert "<Response/>" in delivery.body
    await live.settle()
    person = await person_of(live, "whatsapp:+" + CUSTOMER)
    assert person is not None
    assert await live.store.open_lead_of(person) is not None


async def test_forged_signature_is_rejected_and_nothing_stored(live: Live, twilio: FakeTwilio) -> None:
    fields = twilio.inbound_fields(wa_id=CUSTOMER, body="hi")
    assert (await inbound(live, twilio, fields, token="not-the-token")).status == 401
    # Signed for other content than what arrives: a tampered body.
    signed = await twilio.post_inbound(live.url("/webhooks/whatsapp"), PUBLIC + "/webhooks/other", fields)
    assert signed.status == 401
    await live.settle()
    assert await live.store.event_counts() == {}
    assert live.app[AUTH_FAILURES]["whatsapp"] == 2


async def test_duplicate_delivery_stores_one_message(live: Live, twilio: FakeTwilio) -> None:
    fields = twilio.inbound_fields(wa_id=CUSTOMER, body="hi")
    assert (await inbound(live, twilio, fields)).status == 200
    assert (await inbound(live, twilio, fields)).status == 200
    await live.settle()
    assert await message_count(live) == 1


async def test_malformed_form_is_400(live: Live, twilio: FakeTwilio) -> None:
    fields = twilio.inbound_fields(wa_id=CUSTOMER, body="hi", From="whatsapp:not-a-number")
    delivery = await inbound(live, twilio, fields)
    assert delivery.status == 400 and "From" in delivery.body
    no_sid = {k: v for k, v in twilio.inbound_fields(wa_id=CUSTOMER).items() if "Sid" not in k or k == "AccountSid"}
    assert (await inbound(live, twilio, no_sid)).status == 400
    await live.settle()
    assert await live.store.event_counts() == {}


async def test_reply_reaches_the_number_and_status_callbacks_update_it(live: Live, twilio: FakeTwilio) -> None:
    person = await customer(live, twilio)
    item = await live.app[OUTBOX].send(person, "Да, можно забирать", actor="manager")
    [sent] = twilio.messages
    assert (sent.to, sent.body) == ("whatsapp:+" + CUSTOMER, "Да, можно забирать")
    assert sent.status_callback == PUBLIC + "/webhooks/whatsapp/status"
    assert item.status is OutboxStatus.SENT and item.provider_message_id == sent.sid

    assert (await status(live, twilio, sent.sid, "delivered")).status == 200
    assert (await status(live, twilio, sent.sid, "read")).status == 200
    assert (await status(live, twilio, sent.sid, "delivered")).status == 200  # late and out of order
    stored = await live.store.get_outbox(item.id)
    assert stored is not None and stored.status is OutboxStatus.READ

    unknown = await status(live, twilio, "SM" + "f" * 32, "delivered")
    assert unknown.status == 200 and "<Response/>" in unknown.body


async def test_undelivered_status_marks_the_reply_failed(live: Live, twilio: FakeTwilio) -> None:
    person = await customer(live, twilio)
    item = await live.app[OUTBOX].send(person, "Ответ", actor="manager")
    await status(live, twilio, item.provider_message_id, "undelivered", code="63024")
    stored = await live.store.get_outbox(item.id)
    assert stored is not None and stored.status is OutboxStatus.FAILED and "63024" in stored.error


async def test_forged_status_callback_is_rejected(live: Live, twilio: FakeTwilio) -> None:
    person = await customer(live, twilio)
    item = await live.app[OUTBOX].send(person, "Ответ", actor="manager")
    path = "/webhooks/whatsapp/status"
    forged = await twilio.post_status(
        live.url(path), PUBLIC + path, message_sid=item.provider_message_id, status="read", auth_token="x"
    )
    assert forged.status == 401
    stored = await live.store.get_outbox(item.id)
    assert stored is not None and stored.status is OutboxStatus.SENT


async def test_closed_window_is_reported_before_anything_is_stored(live: Live, twilio: FakeTwilio) -> None:
    person = await customer(live, twilio)
    outbox = live.app[OUTBOX]
    outbox.clock = lambda: datetime.now(UTC) + timedelta(hours=25)
    with pytest.raises(ChannelUnavailable) as info:
        await outbox.send(person, "Ответ", channel=Channel.WHATSAPP, actor="manager")
    assert "24-hour window" in info.value.reason
    assert await live.store.outbox_of([person]) == []
    assert twilio.messages == []


async def test_window_closed_at_twilio_fails_without_marking_unreachable(live: Live, twilio: FakeTwilio) -> None:
    person = await customer(live, twilio)
    twilio.close_window("+" + CUSTOMER)
    item = await live.app[OUTBOX].send(person, "Ответ", actor="manager")
    assert item.status is OutboxStatus.FAILED and "24-hour window" in item.error
    profile = (await live.store.get_profiles(["whatsapp:+" + CUSTOMER]))["whatsapp:+" + CUSTOMER]
    assert not profile.unreachable


async def test_send_failure_is_retried_then_failed_and_visible(live: Live, twilio: FakeTwilio) -> None:
    person = await customer(live, twilio)
    twilio.fail_next(503, times=1)
    ok = await live.app[OUTBOX].send(person, "first", actor="manager")
    assert ok.status is OutboxStatus.SENT and ok.attempts == 2
    twilio.fail_next(500, times=3)
    failed = await live.app[OUTBOX].send(person, "second", actor="manager")
    assert failed.status is OutboxStatus.FAILED and failed.attempts == 3
    assert [i.status for i in await live.store.outbox_of([person])] == [OutboxStatus.FAILED, OutboxStatus.SENT]
    assert len(twilio.messages) == 1


async def test_crash_after_receipt_is_processed_on_restart(live_settings: Settings, twilio: FakeTwilio) -> None:
    first = await start_live(live_settings)
    first.app[PROCESSOR].submit = lambda event_id: None  # type: ignore[method-assign]  # dies before resolving
    try:
        assert (await inbound(first, twilio, twilio.inbound_fields(wa_id=CUSTOMER, body="hi"))).status == 200
        assert await first.store.event_counts() == {"pending": 1}
    finally:
        await first.stop()
    second = await start_live(replace(live_settings))
    try:
        assert await second.store.event_counts() == {"done": 1}
        assert await person_of(second, "whatsapp:+" + CUSTOMER) is not None
    finally:
        await second.stop()
