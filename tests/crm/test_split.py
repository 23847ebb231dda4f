"""A split gives each side its messages, replies and leads back, with repeat flags recomputed (both stores)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.inbox.index import InboxIndex
from app.inbox.live import Broker
from app.inbox.service import InboxService
from app.ingest import Outcome, Pipeline
from app.outbox import Outbox
from connectors.whatsapp.fake import FakeTwilio
from connectors.whatsapp.twilio import WhatsAppConnector
from core.config import Settings
from core.errors import MergeRefused, NotFound
from core.inbox import DealKind, Role, User
from core.records import LeadStatus, MergeKind, MergeRecord
from core.values import Channel, Envelope
from crm.deals import Conversion
from store.base import BaseStore
from store.sqlite import SqliteStore
from tests.resolver.traffic import T0, avito, tg, wa, web

SAMPLE = Path(__file__).parents[2] / "samples" / "impatient-customer.jsonl"
QUESTION = "Здравствуйте! Сколько стоит замена масла на Kia Rio?"
SUE = User(name="sue", role=Role.SUPERVISOR, password_hash="-", created_at=T0)


@dataclass(slots=True)
class Desk:
    """The pipeline, a WhatsApp outbox talking to a Twilio fake, and the inbox on one store."""

    store: BaseStore
    pipeline: Pipeline
    inbox: InboxService
    twilio: FakeTwilio
    clock: list[datetime]

    async def run(self, *envelopes: Envelope) -> None:
        for env in envelopes:
            result = await self.pipeline.ingest(env)
            assert result.outcome is Outcome.INGESTED, result
            await self.inbox.index.observe(result)
            self.clock[0] = max(self.clock[0], env.received_at + timedelta(seconds=1))

    async def person(self, profile_key: str) -> str:
        person = await self.store.person_of_profile(profile_key)
        assert person is not None
        return person

    async def merge_of(self, profile_key: str) -> MergeRecord:
        """The live merge that absorbed this profile's own person."""
        home = (await self.store.get_profiles([profile_key]))[profile_key].person_id
        (merge,) = [m for m in await self.store.merges() if m.from_ == home and m.undone_by is None]
        return merge

    async def timeline(self, person_id: str) -> list[dict[str, Any]]:
        return await self.inbox.timeline(SUE, person_id)

    async def leads(self, person_id: str) -> list[dict[str, Any]]:
        leads: list[dict[str, Any]] = (await self.inbox.person(SUE, person_id))["leads"]
        return leads

    async def row(self, person_id: str) -> dict[str, Any]:
        rows = await self.store.inbox_rows([person_id])
        return self.inbox.row_dict(rows[person_id])


@pytest.fixture
async def desk(store: BaseStore, settings: Settings) -> AsyncIterator[Desk]:
    twilio = FakeTwilio()
    await twilio.start()
    whatsapp = WhatsAppConnector(
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        from_number="+74951234567",
        public_url="http://stitch.test",
        api_base=twilio.base_url,
    )
    clock = [T0]
    pipeline = Pipeline(store, settings)
    outbox = Outbox(store, {Channel.WHATSAPP: whatsapp}, attempts=1, clock=lambda: clock[0])
    broker = Broker()
    index = InboxIndex(store, broker)
    inbox = InboxService(store, settings, pipeline.merger, outbox, index, broker, clock=lambda: clock[0])
    try:
        yield Desk(store=store, pipeline=pipeline, inbox=inbox, twilio=twilio, clock=clock)
    finally:
        await whatsapp.close()
        await twilio.close()


def texts(timeline: list[dict[str, Any]]) -> list[str]:
    return [item["text"] for item in timeline]


def impatient_customer() -> list[Envelope]:
    """The README tour's customer: Telegram, then WhatsApp, Avito and the web form minutes apart."""
    return [
        tg(5651074222, "Саша", QUESTION, 0, last="Петров", username="sasha_p"),
        wa("+79123456789", "Alexander", "здравствуйте! сколько стоит замена масла на kia rio?", 1),
        avito(28834512, "Александр П.", "Сколько стоит замена масла на Kia Rio??", 3),
        web("Петров Александр", "Замена масла Kia Rio, сколько стоит?", 5, phone="8 (912) 345-67-89"),
    ]


async def test_splitting_the_whatsapp_merge_gives_whatsapp_its_reply_and_a_lead(desk: Desk) -> None:
    await desk.run(*impatient_customer())
    person = await desk.person("telegram:5651074222")
    sent = await desk.inbox.reply(SUE, person, "Замена масла — 3 000 ₽", "whatsapp")
    assert sent["status"] == "sent" and [m.body for m in desk.twilio.messages] == ["Замена масла — 3 000 ₽"]
    (lead,) = await desk.leads(person)

    await desk.inbox.split(SUE, (await desk.merge_of("whatsapp:+79123456789")).merge_id)

    whatsapp = await desk.person("whatsapp:+79123456789")
    assert whatsapp != person and await desk.person("telegram:5651074222") == person
    # Timelines: each side its own messages; the reply only where its WhatsApp profile is now.
    rest = texts(await desk.timeline(person))
    assert QUESTION in rest and "Сколько стоит замена масла на Kia Rio??" in rest
    assert "Замена масла — 3 000 ₽" not in rest and "здравствуйте! сколько стоит замена масла на kia rio?" not in rest
    own = await desk.timeline(whatsapp)
    assert texts(own) == ["здравствуйте! сколько стоит замена масла на kia rio?", "Замена масла — 3 000 ₽"]
    assert own[1]["status"] == "sent" and own[1]["author"] == "sue"
    assert [o.text for o in await desk.store.outbox_of(await desk.store.members_of(whatsapp))] == [
        "Замена масла — 3 000 ₽"
    ]
    assert await desk.store.outbox_of(await desk.store.members_of(person)) == []
    # Leads: the first side keeps its lead, the WhatsApp side gets its own, neither is a repeat.
    (kept,) = await desk.leads(person)
    (new,) = await desk.leads(whatsapp)
    assert kept["lead_id"] == lead["lead_id"] and new["lead_id"] != lead["lead_id"]
    assert new["channel"] == "whatsapp" and new["status"] == "new" and new["open"]
    assert not kept["repeat_lead"] and not new["repeat_lead"]
    messages = await desk.store.messages_of(["whatsapp:+79123456789"])
    assert {m.lead_id for m in messages} == {new["lead_id"]}  # the reply too
    others = await desk.store.messages_of([p.key for p in await desk.store.profiles_of(person)])
    assert {m.lead_id for m in others} == {kept["lead_id"]}
    # The inbox list has a row for each side, each naming its own lead.
    assert (await desk.row(whatsapp))["lead_id"] == new["lead_id"]
    assert (await desk.row(person))["lead_id"] == kept["lead_id"]


async def test_chain_split_one_by_one(desk: Desk) -> None:
    """A absorbed B, then C; split B, then C: each gets its messages, replies and a lead back."""
    await desk.run(*impatient_customer()[:3])
    a = await desk.person("telegram:5651074222")
    await desk.run(wa("+79123456789", "Alexander", "А масло своё можно привезти?", 8))
    await desk.inbox.reply(SUE, a, "Да, можно", "whatsapp")
    merge_b = await desk.merge_of("whatsapp:+79123456789")
    merge_c = await desk.merge_of("avito:28834512")
    assert merge_b.into == merge_c.into == a

    await desk.inbox.split(SUE, merge_b.merge_id)
    b = await desk.person("whatsapp:+79123456789")
    assert texts(await desk.timeline(b)) == [
        "здравствуйте! сколько стоит замена масла на kia rio?",
        "А масло своё можно привезти?",
        "Да, можно",
    ]
    assert texts(await desk.timeline(a)) == [QUESTION, "Сколько стоит замена масла на Kia Rio??"]
    (lead_b,) = await desk.leads(b)
    (lead_a,) = await desk.leads(a)

    await desk.inbox.split(SUE, merge_c.merge_id)
    c = await desk.person("avito:28834512")
    assert len({a, b, c}) == 3
    assert texts(await desk.timeline(a)) == [QUESTION]
    assert texts(await desk.timeline(c)) == ["Сколько стоит замена масла на Kia Rio??"]
    assert [lead["lead_id"] for lead in await desk.leads(a)] == [lead_a["lead_id"]]
    assert [lead["lead_id"] for lead in await desk.leads(b)] == [lead_b["lead_id"]]
    (lead_c,) = await desk.leads(c)
    assert lead_c["lead_id"] not in (lead_a["lead_id"], lead_b["lead_id"]) and lead_c["channel"] == "avito"
    for person, lead in ((a, lead_a), (b, lead_b), (c, lead_c)):
        keys = [p.key for p in await desk.store.profiles_of(person)]
        assert {m.lead_id for m in await desk.store.messages_of(keys)} == {lead["lead_id"]}
        assert not lead["repeat_lead"] and not (await desk.row(person))["repeat_lead"]


async def test_split_of_a_merge_whose_survivor_was_merged_away(desk: Desk) -> None:
    """D absorbed A after A absorbed B: splitting A←B works through the merged-away id A."""
    await desk.run(avito(501, "Александр", "Есть ли в наличии шины R16?", 0))
    d = await desk.person("avito:501")
    await desk.run(*impatient_customer()[:2])
    a = await desk.person("telegram:5651074222")
    assert a != d
    merge_b = await desk.merge_of("whatsapp:+79123456789")
    await desk.inbox.reply(SUE, a, "Сейчас посчитаю", "whatsapp")
    await desk.inbox.link(SUE, a, d)
    assert await desk.store.root_of(a) == d and merge_b.into == a

    await desk.inbox.split(SUE, merge_b.merge_id)
    b = await desk.person("whatsapp:+79123456789")
    assert await desk.store.root_of(a) == d and b not in await desk.store.members_of(d)
    assert texts(await desk.timeline(d)) == ["Есть ли в наличии шины R16?", QUESTION]
    assert texts(await desk.timeline(b)) == ["здравствуйте! сколько стоит замена масла на kia rio?", "Сейчас посчитаю"]
    (own,) = await desk.leads(b)
    assert own["channel"] == "whatsapp" and not own["repeat_lead"]
    lead_ids = [lead["lead_id"] for lead in await desk.leads(d)]
    assert own["lead_id"] not in lead_ids and lead_ids
    keys = [p.key for p in await desk.store.profiles_of(d)]
    assert own["lead_id"] not in {m.lead_id for m in await desk.store.messages_of(keys)}


async def test_a_lead_opened_while_merged_goes_with_its_deal_and_repeat_flags_are_recomputed(desk: Desk) -> None:
    """Telegram's lead was junk; Avito, merged in, opened a repeat lead and a deal. Split: both are first ones."""
    await desk.run(tg(13, "Саша", "Нужна замена сцепления на Ford Focus 3", 0, last="Петров"))
    tg_person = await desk.person("telegram:13")
    (first,) = await desk.store.leads_of([tg_person])
    await desk.store.put_lead(replace(first, status=LeadStatus.JUNK, junk_reason="duplicate"))
    await desk.run(avito(23, "Александр П.", "Нужна замена сцепления на Ford Focus 3", 2))
    assert await desk.person("avito:23") == tg_person
    leads = await desk.leads(tg_person)
    (repeat,) = [lead for lead in leads if lead["repeat_lead"]]
    conversion = Conversion(kind=DealKind.CONTACT, title="Сцепление", contact_name="Саша", contact_phone="+79160000023")
    async with desk.store.atomic():
        deal = await desk.inbox.deals.convert(repeat["lead_id"], conversion, actor="sue", at=T0 + timedelta(hours=1))
    assert (await desk.inbox.person(SUE, tg_person))["deals"][0]["repeat_inquiry"]
    async with desk.store.atomic():
        await desk.inbox.index.refresh(tg_person)
    assert (await desk.row(tg_person))["repeat_inquiry"] and (await desk.row(tg_person))["repeat_lead"]

    await desk.inbox.split(SUE, (await desk.merge_of("avito:23")).merge_id)
    avito_person = await desk.person("avito:23")
    assert avito_person != tg_person
    # The lead Avito opened while merged, and its deal, are Avito's now: first ones, not repeats.
    after = await desk.inbox.person(SUE, avito_person)
    assert [lead["lead_id"] for lead in after["leads"]] == [repeat["lead_id"]]
    assert not after["leads"][0]["repeat_lead"]
    assert [d["deal_id"] for d in after["deals"]] == [deal.deal_id] and not after["deals"][0]["repeat_inquiry"]
    stored = await desk.store.get_lead(repeat["lead_id"])
    assert stored is not None and not stored.is_repeat
    row = await desk.row(avito_person)
    assert row["lead_id"] == repeat["lead_id"] and not row["repeat_lead"] and not row["repeat_inquiry"]
    # Telegram keeps its junk lead alone, no deal.
    tg_view = await desk.inbox.person(SUE, tg_person)
    assert [lead["lead_id"] for lead in tg_view["leads"]] == [first.lead_id] and tg_view["deals"] == []
    assert not (await desk.row(tg_person))["repeat_inquiry"]


async def test_a_folded_lead_gets_back_what_its_side_wrote_while_merged(desk: Desk) -> None:
    """Two persons with open leads merged by hand: the younger lead folds; a split unfolds it with its messages."""
    await desk.run(tg(14, "Ольга", "Когда можно приехать на шиномонтаж?", 0))
    await desk.run(avito(24, "Виктор", "Нужен развал-схождение на Ford Focus", 60))
    olga, victor = await desk.person("telegram:14"), await desk.person("avito:24")
    assert olga != victor
    merge = await desk.inbox.link(SUE, victor, olga)
    await desk.run(avito(24, "Виктор", "В субботу удобно?", 90))
    leads = await desk.store.leads_of(await desk.store.members_of(olga))
    assert len([lead for lead in leads if lead.merged_into is None]) == 1

    await desk.inbox.split(SUE, merge["merge_id"])
    (olga_lead,) = await desk.leads(olga)
    (victor_lead,) = await desk.leads(victor)
    assert victor_lead["open"] and olga_lead["open"] and not victor_lead["repeat_lead"]
    messages = await desk.store.messages_of(["avito:24"])
    assert {m.lead_id for m in messages} == {victor_lead["lead_id"]}
    assert {m.lead_id for m in await desk.store.messages_of(["telegram:14"])} == {olga_lead["lead_id"]}
    assert texts(await desk.timeline(victor)) == ["Нужен развал-схождение на Ford Focus", "В субботу удобно?"]


async def test_splitting_twice_or_an_unknown_merge_changes_nothing(desk: Desk) -> None:
    await desk.run(*impatient_customer()[:2])
    merge = await desk.merge_of("whatsapp:+79123456789")
    await desk.inbox.split(SUE, merge.merge_id)
    counts = await desk.store.counts()
    for merge_id in (merge.merge_id, "m_nope"):
        with pytest.raises((MergeRefused, NotFound)):
            await desk.inbox.split(SUE, merge_id)
    assert await desk.store.counts() == counts
    assert (await desk.store.merges())[0].kind is MergeKind.SPLIT


async def test_the_tour_split_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`stitch replay` the tour's sample, then `stitch graph split` its WhatsApp merge."""
    url = f"sqlite:///{tmp_path / 'tour.db'}"
    assert await asyncio.to_thread(main, ["replay", "--store", url, str(SAMPLE)]) == 0
    store = SqliteStore(tmp_path / "tour.db")
    await store.open()
    try:
        assert await InboxIndex(store, Broker()).rebuild_if_empty() == 1  # the inbox has run once
        whatsapp = "whatsapp:+79123456789"
        home = (await store.get_profiles([whatsapp]))[whatsapp].person_id
        (merge,) = [m for m in await store.merges() if m.from_ == home]
    finally:
        await store.close()
    assert await asyncio.to_thread(main, ["graph", "split", merge.merge_id, "--store", url]) == 0
    assert await asyncio.to_thread(main, ["graph", "split", "m_nope", "--store", url]) == 1
    assert "unknown merge 'm_nope'" in capsys.readouterr().err
    await store.open()
    try:
        sides = [merge.into, merge.from_]
        assert [await store.root_of(p) for p in sides] == sides
        rows = await store.inbox_rows(sides)
        for person in sides:
            (lead,) = await store.leads_of(await store.members_of(person))
            assert rows[person].lead_id == lead.lead_id and not rows[person].repeat_lead and not lead.is_repeat
        assert (await store.leads_of([merge.from_]))[0].channel is Channel.WHATSAPP
    finally:
        await store.close()
