"""Two messages of one new customer, resolved at the same moment by two workers, end as one person."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from scale_helpers import REDIS_URL

from app.ingest import Pipeline
from app.streams import RedisStreamQueue, StreamWorker
from core.config import Settings
from core.values import Channel, Envelope
from store.redis import RedisStore

TRIALS = 1000
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _pair(trial: int) -> tuple[Envelope, Envelope]:
    phone = f"+7913{2000000 + trial:07d}"
    # An hour apart: no trial finds another's recent message as evidence.
    at = T0 + timedelta(hours=trial)
    sid = f"SM{trial:032d}"
    whatsapp = Envelope(
        id=f"race{trial}wa",
        channel=Channel.WHATSAPP,
        received_at=at,
        payload={
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": "AC" + "1" * 32,
            "From": f"whatsapp:{phone}",
            "To": "whatsapp:+74951234567",
            "WaId": phone[1:],
            "ProfileName": "Виктор",
            "Body": f"Заказ {trial}: когда доставка?",
            "NumMedia": "0",
        },
    )
    form = Envelope(
        id=f"race{trial}wf",
        channel=Channel.WEBFORM,
        received_at=at,
        payload={
            "form_id": "contact",
            "name": "Виктор Сидоров",
            "phone": "8" + phone[2:],
            "message": f"Перезвоните по заказу {trial}",
            "visitor_id": f"{trial:032x}",
        },
    )
    return whatsapp, form


async def test_two_workers_racing_on_one_new_customer_make_one_person(redis_store: RedisStore) -> None:
    other = RedisStore.from_url(REDIS_URL, prefix=redis_store.prefix, lock_lease_s=5, lock_wait_s=20)
    await other.open()
    try:
        settings = Settings()
        a = StreamWorker(Pipeline(redis_store, settings), RedisStreamQueue(redis_store, settings.worker))
        b = StreamWorker(Pipeline(other, settings), RedisStreamQueue(other, settings.worker))
        for trial in range(TRIALS):
            wa, form = _pair(trial)
            assert await a.pipeline.accept(wa) and await a.pipeline.accept(form)
            # Both workers resolve at once, each on its own connection (as two processes would).
            await asyncio.gather(a._process(wa.id), b._process(form.id))
            root_wa = await redis_store.person_of_profile(f"whatsapp:{'+7913' + f'{2000000 + trial:07d}'}")
            messages = [m async for m in _messages(redis_store, wa.id, form.id)]
            roots = {await redis_store.person_of_profile(m) for m in messages}
            assert roots == {root_wa}, f"trial {trial} split one customer"
        counts = await redis_store.counts()
        assert counts["persons"] == TRIALS
        assert counts["messages"] == 2 * TRIALS
        assert await redis_store.event_counts() == {"done": 2 * TRIALS}
    finally:
        await other.close()


async def _messages(store: RedisStore, *event_ids: str):  # type: ignore[no-untyped-def]
    for event_id in event_ids:
        (h,) = await store._fetch([("hgetall", (store.key("msg", event_id),))])
        yield h["profile"]
