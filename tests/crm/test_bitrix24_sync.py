"""The Bitrix24 push, end to end: Stitch's pipeline -> durable queue -> real client -> FakeBitrix24.

One manual clock drives the fake's limiter, the client's bucket and sleeps, and the worker's notion
of "due", so backoff is exercised without waiting and nothing asserts on elapsed time.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer, unused_port

from app.bitrix24 import BITRIX24, Bitrix24Push, attach, check_webhook
from app.ingest import Pipeline
from app.keys import PIPELINE, STORE
from app.web import create_app
from connectors.max.fake import FakeMax
from core.config import Settings
from core.errors import ConfigError
from core.records import CrmJob, CrmJobStatus, MergeKind
from core.values import Channel, Envelope
from crm.bitrix24.client import Bitrix24Client
from crm.bitrix24.fake import FakeBitrix24
from crm.bitrix24.sync import Bitrix24Pusher, Bitrix24Sink, PushWorker
from crm.bitrix24.throttle import LeakyBucket
from store.base import BaseStore
from store.redis import RedisStore
from tests.conftest import make_store
from tests.resolver.traffic import T0, tg, wa

SAMPLES = Path(__file__).parents[1] / "payloads" / "contract_samples.jsonl"


class ManualClock:
    """Monotonic and wall clock in one; `sleep` advances it instead of waiting."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def dt(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, delta: timedelta) -> None:
        self.now += delta.total_seconds()


@dataclass(slots=True)
class Harness:
    store: BaseStore
    pipeline: Pipeline
    fake: FakeBitrix24
    client: Bitrix24Client
    sink: Bitrix24Sink
    worker: PushWorker
    clock: ManualClock

    async def ingest(self, *envelopes: Envelope) -> None:
        for envelope in envelopes:
            await self.pipeline.ingest(envelope)

    async def drain(self) -> None:
        await self.worker.drain()

    async def settle(self, rounds: int = 20) -> None:
        """Let time pass (backoff, the portal's bucket draining) until the queue is empty."""
        for _ in range(rounds):
            if not await self.store.crm_jobs(CrmJobStatus.QUEUED):
                return
            self.clock.advance(timedelta(minutes=1))
            await self.drain()

    def entities(self, kind: str) -> list[dict[str, Any]]:
        return list(self.fake.entities[kind].values())

    def adds(self, entity: str) -> int:
        return sum(1 for c in self.fake.calls_to(f"crm.{entity}.add") if c.status == 200)


@pytest.fixture
async def harness(store: BaseStore, settings: Settings) -> AsyncIterator[Harness]:
    clock = ManualClock()
    fake = FakeBitrix24(clock=clock, wall_clock=clock)
    await fake.start()
    client = Bitrix24Client.from_url(
        fake.url,
        bucket=LeakyBucket(clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
        wall_clock=clock,
        max_retries=0,  # the queue's backoff is under test, not the client's
    )
    pipeline = Pipeline(store, settings)
    pusher = Bitrix24Pusher(store, client)
    worker = PushWorker(store, pusher, max_attempts=3, clock=clock.dt)
    sink = Bitrix24Sink(store, clock=clock.dt, wake=worker.kick)
    attach(Bitrix24Push(client=client, sink=sink, pusher=pusher, worker=worker), pipeline)
    try:
        yield Harness(store=store, pipeline=pipeline, fake=fake, client=client, sink=sink, worker=worker, clock=clock)
    finally:
        await client.close()
        await fake.close()


def samples() -> list[Envelope]:
    out = []
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        out.append(
            Envelope(
                id=raw["id"],
                channel=Channel(raw["channel"]),
                received_at=datetime.fromisoformat(raw["received_at"].replace("Z", "+00:00")),
                payload=raw["payload"],
                lookups=raw.get("lookups", {}),
            )
        )
    return out


def values(rec: dict[str, Any], type_id: str) -> list[tuple[str, str]]:
    return [(x["VALUE_TYPE"], x["VALUE"]) for x in rec.get(type_id, [])]


async def test_four_channel_customer_is_one_contact_with_one_lead(harness: Harness) -> None:
    await harness.ingest(*samples())
    assert (await harness.store.counts())["persons"] == 1
    await harness.drain()

    [contact] = harness.entities("contact")
    [lead] = harness.entities("lead")
    assert contact["NAME"] == "Саша" and contact["LAST_NAME"] == "Петров"
    assert contact["ORIGINATOR_ID"] == "stitch"
    assert values(contact, "PHONE") == [("MOBILE", "+79123456789")]  # WhatsApp and the form: one phone
    assert ("TELEGRAM", "sasha_p") in values(contact, "IM")
    assert ("OTHER", "avito:28834512") in values(contact, "IM")
    assert values(contact, "EMAIL") == [("WORK", "a.petrov@mail.ru")]
    # A first inquiry: linked to the contact, not a repeat lead; the source names the channel.
    assert lead["CONTACT_ID"] == contact["ID"] and lead["IS_RETURN_CUSTOMER"] == "N"
    assert lead["SOURCE_ID"] == "STITCH_TELEGRAM" and lead["ORIGINATOR_ID"] == "stitch"
    assert {s["STATUS_ID"] for s in harness.fake.statuses} >= {"STITCH_TELEGRAM", "STITCH_WHATSAPP", "STITCH_AVITO"}
    # Every message on the lead's timeline, one first-response to-do.
    comments = list(harness.fake.comments.values())
    assert len(comments) == 4 and {c["ENTITY_TYPE"] for c in comments} == {"lead"}
    assert any("Kia Rio" in c["COMMENT"] for c in comments)
    [todo] = harness.fake.todos.values()
    assert todo["ownerTypeId"] == "lead" and todo["deadline"]
    assert await harness.store.crm_job_counts() == {"done": len(await harness.store.crm_jobs(CrmJobStatus.DONE))}

    # Pushing everything again changes nothing in the portal.
    persons = [p.person_id async for p in harness.store.iter_persons() if p.merged_into is None]
    leads = [lead.lead_id async for lead in harness.store.iter_leads() if lead.merged_into is None]
    async with harness.store.atomic():
        await harness.sink.resync(persons, leads, "again")
    await harness.drain()
    assert len(harness.entities("contact")) == 1 and len(harness.entities("lead")) == 1
    assert harness.adds("contact") == 1 and harness.adds("lead") == 1


async def test_a_max_chat_goes_on_the_contact_as_im_other(harness: Harness) -> None:
    max_bot = FakeMax()

    def update(minute: int, **fields: Any) -> Envelope:
        moment = T0 + timedelta(minutes=minute)
        payload = max_bot.text_update(
            user_id=5001, first_name="Анна", timestamp_ms=int(moment.timestamp() * 1000), **fields
        )
        return Envelope(id=f"mx{minute}", channel=Channel.MAX, received_at=moment, payload=payload)

    await harness.ingest(update(0, text="Есть доставка?"), update(1, contact_phone="+79123456789"))
    await harness.drain()
    [contact] = harness.entities("contact")
    [lead] = harness.entities("lead")
    assert values(contact, "IM") == [("OTHER", "max:5001")]
    assert values(contact, "PHONE") == [("MOBILE", "+79123456789")]  # the shared contact
    assert lead["SOURCE_ID"] == "STITCH_MAX"
    assert any(s["STATUS_ID"] == "STITCH_MAX" for s in harness.fake.statuses)


async def test_returning_customer_gets_a_repeat_lead_on_the_same_contact(harness: Harness) -> None:
    await harness.ingest(tg(501, "Ольга", "Здравствуйте, есть ли доставка?", 0, last="Ким", username="olga_k"))
    await harness.drain()
    # Six weeks later the old lead is idle: a new inquiry opens a new, repeat, lead.
    await harness.ingest(tg(501, "Ольга", "Снова нужен ваш товар, сколько стоит?", 60 * 24 * 42, last="Ким"))
    await harness.drain()

    [contact] = harness.entities("contact")
    first, second = harness.entities("lead")
    assert first["IS_RETURN_CUSTOMER"] == "N"
    assert second["CONTACT_ID"] == contact["ID"] and second["IS_RETURN_CUSTOMER"] == "Y"
    assert len(harness.fake.todos) == 2


async def test_findbycomm_links_a_customer_the_portal_already_had(harness: Harness) -> None:
    known = harness.fake.seed(
        "contact", {"NAME": "Александр", "PHONE": [{"VALUE": "+7 912 345-67-89", "VALUE_TYPE": "WORK"}]}
    )
    await harness.ingest(wa("+79123456789", "Alexander", "Добрый день, запись на ТО есть?", 0))
    await harness.drain()

    [contact] = harness.entities("contact")
    assert int(contact["ID"]) == known
    assert len(values(contact, "PHONE")) == 1  # the same number in another format is not added again
    [lead] = harness.entities("lead")
    # Known to the business already: Bitrix24 marks the lead a repeat lead.
    assert lead["CONTACT_ID"] == str(known) and lead["IS_RETURN_CUSTOMER"] == "Y"
    assert harness.fake.calls_to("crm.duplicate.findbycomm")


async def test_merge_and_split_are_mirrored(harness: Harness) -> None:
    harness.fake.merge_conflict_fields = frozenset()
    await harness.ingest(
        tg(601, "Игорь", "Нужна консультация по кухне", 0, last="Лебедев"),
        wa("+79035550177", "Игорь Л.", "Подскажите по срокам кухни", 60 * 24 * 3),
    )
    await harness.drain()
    assert len(harness.entities("contact")) == 2
    a = await harness.store.person_of_profile("telegram:601")
    b = await harness.store.person_of_profile("whatsapp:+79035550177")
    assert a and b and a != b
    contact_a = await harness.store.crm_link("contact", a)
    contact_b = await harness.store.crm_link("contact", b)

    async with harness.store.atomic():
        record = await harness.pipeline.merger.perform(
            a, b, kind=MergeKind.MANUAL, evidence=(), actor="manager", at=T0 + timedelta(days=4)
        )
    await harness.drain()
    [merged] = harness.entities("contact")
    assert int(merged["ID"]) == contact_a  # the primary person's contact survives
    assert ("MOBILE", "+79035550177") in values(merged, "PHONE")
    [call] = [c for c in harness.fake.calls_to("crm.entity.mergeBatch") if c.status == 200]
    assert call.params["params"]["entityIds"] == [contact_a, contact_b]
    assert await harness.store.crm_link("contact", b) is None

    async with harness.store.atomic():
        await harness.pipeline.merger.split(record.merge_id, actor="manager", at=T0 + timedelta(days=5))
    await harness.drain()
    contacts = harness.entities("contact")
    assert len(contacts) == 2
    split_off = await harness.store.crm_link("contact", b)
    assert split_off is not None and split_off not in (contact_a, contact_b)
    assert harness.fake.entities["contact"][split_off]["ORIGIN_ID"] == b


async def test_merge_conflict_becomes_a_review_item_with_the_merge_page(harness: Harness) -> None:
    await harness.ingest(
        tg(701, "Дмитрий", "Вопрос по ремонту", 0, last="Орлов"),
        wa("+79035550188", "Dima", "Вопрос по ремонту телефона", 60 * 24 * 3),
    )
    await harness.drain()
    a = await harness.store.person_of_profile("telegram:701")
    b = await harness.store.person_of_profile("whatsapp:+79035550188")
    assert a and b
    async with harness.store.atomic():
        await harness.pipeline.merger.perform(
            a, b, kind=MergeKind.MANUAL, evidence=(), actor="manager", at=T0 + timedelta(days=4)
        )
    await harness.drain()
    [review] = await harness.store.crm_jobs(CrmJobStatus.REVIEW)
    ids = f"{await harness.store.crm_link('contact', a)},{await harness.store.crm_link('contact', b)}"
    assert f"/crm/contact/merge/?id={ids}" in review.error
    assert len(harness.entities("contact")) == 2  # nothing deleted behind the manager's back


async def test_outage_and_throttling_delay_pushes_without_losing_or_duplicating(harness: Harness) -> None:
    harness.fake.go_down(3)
    await harness.ingest(*samples())
    await harness.drain()
    assert harness.entities("contact") == [] and harness.entities("lead") == []
    [first, *_] = await harness.store.crm_jobs(CrmJobStatus.QUEUED)
    assert first.attempts == 1 and "503" in first.error  # kept, counted, due again later
    await harness.settle()

    # Other apps on this IP fill the portal's bucket: 503 QUERY_LIMIT_EXCEEDED until it drains.
    harness.fake.fill_bucket()
    await harness.ingest(tg(555, "Нина", "Можно оформить заказ?", 30, last="Зайцева"))
    await harness.drain()
    assert len(harness.entities("contact")) == 1  # the newcomer waits
    assert any(c.status == 503 for c in harness.fake.calls_to("crm.contact.list"))
    await harness.settle()

    assert len(harness.entities("contact")) == 2 and len(harness.entities("lead")) == 2
    assert len(harness.fake.comments) == 5 and len(harness.fake.todos) == 2
    assert harness.adds("contact") == 2 and harness.adds("lead") == 2
    assert set(await harness.store.crm_job_counts()) == {"done"}


async def test_a_lost_answer_finds_the_created_contact_instead_of_adding_another(harness: Harness) -> None:
    await harness.ingest(tg(801, "Вера", "Есть ли скидки?", 0, last="Соколова"))
    await harness.drain()
    person = await harness.store.person_of_profile("telegram:801")
    assert person
    async with harness.store.atomic():
        # As if the add had run but its answer never reached us: the mapping was never written.
        await harness.store.drop_crm_link("contact", person)
    await harness.worker.pusher.push_person(person)
    assert len(harness.entities("contact")) == 1 and harness.adds("contact") == 1


async def test_a_refused_push_is_retried_then_marked_failed(harness: Harness) -> None:
    await harness.ingest(tg(901, "Пётр", "Сколько стоит доставка?", 0))
    await harness.drain()
    [lead] = [lead async for lead in harness.store.iter_leads()]
    bad = CrmJob(
        job_id="todo:bad",
        kind="todo",
        subject=lead.lead_id,
        created_at=harness.clock.dt(),
        due_at=harness.clock.dt(),
        payload={"deadline": ""},  # the portal refuses a to-do without a deadline
    )
    async with harness.store.atomic():
        await harness.store.add_crm_job(bad)
    for _ in range(3):
        await harness.drain()
        harness.clock.advance(timedelta(hours=1))
    failed = await harness.store.get_crm_job("todo:bad")
    assert failed is not None and failed.status is CrmJobStatus.FAILED and failed.attempts == 3
    assert "deadline" in failed.error
    assert [j.job_id for j in await harness.store.crm_jobs(CrmJobStatus.FAILED)] == ["todo:bad"]


async def test_simple_crm_mode_creates_deals(harness: Harness) -> None:
    harness.fake.mode = "simple"
    await harness.ingest(tg(1001, "Анна", "Хочу заказать торт", 0, last="Белова"))
    await harness.drain()
    assert harness.entities("lead") == []
    [contact] = harness.entities("contact")
    [deal] = harness.entities("deal")
    assert deal["CONTACT_ID"] == contact["ID"] and deal["IS_RETURN_CUSTOMER"] == "N"
    assert [c["ENTITY_TYPE"] for c in harness.fake.comments.values()] == ["deal"]
    [todo] = harness.fake.todos.values()
    assert todo["ownerTypeId"] == "deal"


async def test_manager_reply_becomes_a_timeline_comment(harness: Harness) -> None:
    from core.records import Direction, OutboxItem, OutboxStatus, StoredMessage

    await harness.ingest(tg(1101, "Лев", "Когда откроетесь?", 0))
    await harness.drain()
    person = await harness.store.person_of_profile("telegram:1101")
    lead = await harness.store.open_lead_of(person or "")
    assert person and lead
    item = OutboxItem(
        id="o_1",
        person_id=person,
        profile_key="telegram:1101",
        channel=Channel.TELEGRAM,
        text="Открываемся в 10:00",
        status=OutboxStatus.SENT,
        created_at=T0,
        updated_at=T0,
        actor="Мария",
    )
    message = StoredMessage(
        event_id="out:o_1",
        channel=Channel.TELEGRAM,
        provider_message_id="1",
        profile_key="telegram:1101",
        lead_id=lead.lead_id,
        sent_at=T0,
        direction=Direction.OUT,
        text=item.text,
    )
    async with harness.store.atomic():
        await harness.sink.reply_sent(item, message)
    await harness.drain()
    last = list(harness.fake.comments.values())[-1]
    assert last["ENTITY_TYPE"] == "lead" and "Мария" in last["COMMENT"] and "10:00" in last["COMMENT"]


async def test_wrong_webhook_code_stops_the_service_with_a_clear_error(settings: Settings) -> None:
    fake = FakeBitrix24(code="rightcode")
    url = await fake.start()
    wrong = replace(settings, bitrix24_webhook_url=url.replace("rightcode", "wrongcode123"))
    try:
        with pytest.raises(ConfigError) as caught:
            await check_webhook(wrong)
        message = str(caught.value)
        assert message.startswith("STITCH_BITRIX24_WEBHOOK_URL:") and "refused" in message
        assert "wrongcode123" not in message and "\n" not in message
        server = TestServer(create_app(wrong))
        with pytest.raises(ConfigError):
            await server.start_server()
        await server.close()
    finally:
        await fake.close()


async def test_serve_starts_the_push_worker_when_the_webhook_is_set(settings: Settings) -> None:
    fake = FakeBitrix24()
    url = await fake.start()
    app = create_app(replace(settings, bitrix24_webhook_url=url))
    server = TestServer(app)
    try:
        await server.start_server()
        push = app[BITRIX24]
        assert push.pusher.mode == "classic" and app[PIPELINE].effects
        await app[PIPELINE].ingest(tg(1201, "Ира", "Здравствуйте, вы работаете?", 0))
        await push.worker.drain()
        assert len(fake.entities["contact"]) == 1 and len(fake.entities["lead"]) == 1
    finally:
        await server.close()
        await fake.close()


async def test_demo_pushes_the_story_to_a_local_portal(tmp_path: Path) -> None:
    from app.demo import play_story, start_demo

    settings = Settings.from_env({"STITCH_STORE": f"sqlite:///{tmp_path / 'demo.db'}"})
    run = await start_demo(settings, host="127.0.0.1", port=0)
    try:
        result = await play_story(run, out=io.StringIO(), pause=0)
        await run.settle()
        assert run.bitrix24 is not None
        anna = await run.app[STORE].person_of_profile(result.anna_profiles[0])
        assert anna and await run.app[STORE].crm_link("contact", anna) is not None
        assert run.bitrix24.entities["lead"] and run.bitrix24.comments
    finally:
        await run.close()


def test_stitch_serve_refuses_a_wrong_webhook_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from app.cli import main

    async def portal() -> tuple[FakeBitrix24, str]:
        fake = FakeBitrix24(code="rightcode")
        return fake, await fake.start()

    # The fake runs on its own loop in a thread so the command can use asyncio.run itself.
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake, url = asyncio.run_coroutine_threadsafe(portal(), loop).result(10)
    stitch_log = logging.getLogger("stitch")
    saved = (list(stitch_log.handlers), stitch_log.propagate, stitch_log.level)  # `serve` sets up logging
    try:
        monkeypatch.setenv("STITCH_STORE", f"sqlite:///{tmp_path / 'stitch.db'}")
        monkeypatch.setenv("STITCH_PORT", str(unused_port()))  # 8080 may be another server's
        monkeypatch.setenv("STITCH_BITRIX24_WEBHOOK_URL", url.replace("rightcode", "wrongcode123"))
        assert main(["serve"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("stitch: STITCH_BITRIX24_WEBHOOK_URL:") and err.count("\n") == 1
        assert "wrongcode123" not in err
        monkeypatch.setenv("STITCH_BITRIX24_WEBHOOK_URL", url)
        assert main(["bitrix24", "check"]) == 0
        assert "accepts the webhook" in capsys.readouterr().out
    finally:
        asyncio.run_coroutine_threadsafe(fake.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        stitch_log.handlers[:], stitch_log.propagate, stitch_log.level = saved


async def test_conversion_of_a_legal_entity_adds_a_company_and_a_deal(harness: Harness) -> None:
    await harness.ingest(tg(1301, "Олег", "Нужен счёт на оплату для ООО", 0, last="Смирнов"))
    await harness.drain()
    person = await harness.store.person_of_profile("telegram:1301")
    lead = await harness.store.open_lead_of(person or "")
    assert person and lead
    async with harness.store.atomic():
        await harness.sink.converted(
            person, deal_id="d_1", lead_id=lead.lead_id, title="10 ноутбуков", company_title="ООО Ромашка"
        )
    await harness.drain()
    [contact] = harness.entities("contact")
    [company] = harness.entities("company")
    [deal] = harness.entities("deal")
    assert company["TITLE"] == "ООО Ромашка" and contact["COMPANY_ID"] == company["ID"]
    assert deal["CONTACT_ID"] == contact["ID"] and deal["ORIGIN_ID"] == "d_1"
    assert await harness.store.crm_link("company", person) == int(company["ID"])


async def test_erasing_a_person_deletes_their_contact_leads_and_timeline(harness: Harness) -> None:
    from app.bitrix24 import crm_eraser
    from app.personal import forget

    await harness.ingest(*samples())
    await harness.drain()
    assert harness.entities("contact") and harness.entities("lead") and harness.fake.comments
    (person,) = [p.person_id async for p in harness.store.iter_persons() if p.merged_into is None]
    summary = await forget(harness.store, person, actor="ada", at=harness.clock.dt(), crm=crm_eraser(harness.client))
    assert summary.crm_removed == 2 and "2 CRM records removed" in summary.render()
    assert harness.entities("contact") == [] and harness.entities("lead") == [] and harness.fake.comments == {}
    assert await harness.store.crm_link("contact", person) is None
    # Nothing left in the queue would push the person back.
    await harness.settle()
    assert harness.entities("contact") == [] and harness.adds("contact") == 1


async def test_pushing_one_person_at_once_from_two_rounds_adds_each_chat_once(harness: Harness) -> None:
    max_bot = FakeMax()
    moment = T0 + timedelta(minutes=2)
    payload = max_bot.text_update(
        user_id=5002, first_name="Вера", timestamp_ms=int(moment.timestamp() * 1000), contact_phone="+79123450000"
    )
    await harness.ingest(
        tg(801, "Вера", "Есть доставка?", 0, username="vera_k"),
        wa("+79123450000", "Vera", "Есть доставка?", 1),
        Envelope(id="mx-vera", channel=Channel.MAX, received_at=moment, payload=payload),
    )
    # The background loop and a drain at the same time, then the person pushed again and again.
    await asyncio.gather(harness.drain(), harness.drain())
    persons = [p.person_id async for p in harness.store.iter_persons() if p.merged_into is None]
    for tag in ("a", "b", "c"):
        async with harness.store.atomic():
            await harness.sink.resync(persons, [], tag)
        await asyncio.gather(harness.drain(), harness.drain())
    for contact in harness.entities("contact"):
        for type_id in ("PHONE", "EMAIL", "IM"):
            seen = [v for _, v in values(contact, type_id)]
            assert len(seen) == len(set(seen)), (type_id, seen)


async def test_two_processes_pushing_one_person_at_once_leave_one_contact_and_its_leads(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first inquiry, and six weeks later a second one (a repeat lead).
    await harness.ingest(tg(1401, "Инна", "Есть ли доставка?", 0, last="Котова"))
    await harness.ingest(tg(1401, "Инна", "Снова нужен ваш товар", 60 * 24 * 42, last="Котова"))
    first, second = sorted([lead async for lead in harness.store.iter_leads()], key=lambda lead: lead.created_at)
    # Another process on the same store: its own connection, its own client, the same portal.
    kind = "redis" if isinstance(harness.store, RedisStore) else "sqlite"
    other_store = await make_store(kind, tmp_path, prefix=getattr(harness.store, "prefix", None))
    other_client = Bitrix24Client.from_url(
        harness.fake.url,
        bucket=LeakyBucket(clock=harness.clock, sleep=harness.clock.sleep),
        sleep=harness.clock.sleep,
        wall_clock=harness.clock,
        max_retries=0,
    )
    pushers = (harness.worker.pusher, Bitrix24Pusher(other_store, other_client))
    # Each add waits for the other process's: both have looked and found nothing, as in the worst case.
    together = asyncio.Barrier(len(pushers))
    for pusher in pushers:
        monkeypatch.setattr(pusher.client, "add", adding_together(together, pusher.client.add))

    async def push(pusher: Bitrix24Pusher) -> None:
        for lead in (first, second):
            await pusher.push_lead(lead.lead_id)

    try:
        # Both find no contact and no lead, and both create them.
        await asyncio.gather(*(push(pusher) for pusher in pushers))
        monkeypatch.undo()
        [contact] = harness.entities("contact")
        old, repeat = harness.entities("lead")
        assert (old["ORIGIN_ID"], repeat["ORIGIN_ID"]) == (first.lead_id, second.lead_id)
        assert old["CONTACT_ID"] == repeat["CONTACT_ID"] == contact["ID"]
        assert (old["IS_RETURN_CUSTOMER"], repeat["IS_RETURN_CUSTOMER"]) == ("N", "Y")
        assert harness.adds("contact") == 2 and harness.adds("lead") == 4  # the copies were made, then deleted
        for store in (harness.store, other_store):
            assert await store.crm_link("contact", first.person_id) == int(contact["ID"])
            assert await store.crm_link("lead", first.lead_id) == int(old["ID"])
            assert await store.crm_link("lead", second.lead_id) == int(repeat["ID"])
        # The queued jobs land on the copies kept.
        await harness.settle()
        assert harness.entities("contact") == [contact] and len(harness.entities("lead")) == 2
        assert harness.adds("contact") == 2 and harness.adds("lead") == 4
        assert {c["ENTITY_ID"] for c in harness.fake.comments.values()} == {int(old["ID"]), int(repeat["ID"])}
    finally:
        await other_client.close()
        await other_store.close()


def adding_together(barrier: asyncio.Barrier, add: Callable[..., Awaitable[int]]) -> Callable[..., Awaitable[int]]:
    async def add_when_all_are_there(*args: Any, **kwargs: Any) -> int:
        await asyncio.wait_for(barrier.wait(), 10)
        return await add(*args, **kwargs)

    return add_when_all_are_there
