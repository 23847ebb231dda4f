"""Every link rule, shared-identifier protection, cannot-link, evidence, split, idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.ingest import Outcome, Pipeline
from core.errors import MergeRefused
from core.records import MergeKind
from core.values import Envelope
from resolver.blocking import full_name_keys
from store.base import BaseStore
from tests.resolver.traffic import T0, avito, tg, wa, web

QUESTION = "Здравствуйте! Сколько стоит замена масла на Kia Rio?"


async def run(pipeline: Pipeline, *envelopes: Envelope) -> list[str]:
    persons = []
    for env in envelopes:
        result = await pipeline.ingest(env)
        assert result.outcome is Outcome.INGESTED, result
        persons.append(await pipeline.store.root_of(result.person_id))
    return persons


async def roots(pipeline: Pipeline, envelopes: list[Envelope]) -> list[str]:
    out = []
    for env in envelopes:
        msgs = [m async for m in pipeline.store.iter_messages() if m.event_id == env.id]
        person = await pipeline.store.person_of_profile(msgs[0].profile_key)
        assert person is not None
        out.append(person)
    return out


async def test_the_impatient_customer_becomes_one_person(pipeline: Pipeline) -> None:
    envs = [
        tg(5651074222, "Саша", QUESTION, 0, last="Петров", username="sasha_p"),
        wa("+79123456789", "Alexander", "здравствуйте! сколько стоит замена масла на kia rio?", 1),
        avito(28834512, "Александр П.", "Сколько стоит замена масла на Kia Rio??", 3),
        web(
            "Петров Александр",
            "Замена масла Kia Rio, сколько стоит?",
            5,
            phone="8 (912) 345-67-89",
            email="a.petrov@mail.ru",
        ),
    ]
    await run(pipeline, *envs)
    assert len(set(await roots(pipeline, envs))) == 1
    person = (await roots(pipeline, envs))[0]
    profiles = await pipeline.store.profiles_of(person)
    assert {p.channel.value for p in profiles} == {"telegram", "whatsapp", "avito", "webform"}
    merges = await pipeline.store.merges()
    rules = {e.rule for m in merges for e in m.evidence}
    assert {"phone", "name", "text"} <= rules
    details = " ".join(e.detail for m in merges for e in m.evidence)
    assert "+7 912 ***-**-89" in details and "89123456789" not in details
    leads = await pipeline.store.leads_of(await pipeline.store.members_of(person))
    assert len([lead for lead in leads if lead.merged_into is None]) == 1


async def test_same_phone_links_exactly(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        wa("+79123456789", "Ирина", "Добрый день, запишите на ТО", 0),
        web("Ирина Соколова", "Хочу на ТО в субботу", 60 * 24 * 3, phone="89123456789"),
    )
    assert a == b


async def test_same_email_links_a_returning_customer_with_a_new_phone(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        web("Олег Смирнов", "Нужен шиномонтаж R16", 0, phone="+79161112233", email="oleg.smirnov@yandex.ru"),
        web(
            "Олег Смирнов", "Снова нужен шиномонтаж", 60 * 24 * 40, phone="+79035556677", email="Oleg.Smirnov@yandex.ru"
        ),
    )
    assert a == b
    leads = await pipeline.store.leads_of(await pipeline.store.members_of(a))
    assert [lead.is_repeat for lead in leads] == [False, True]


async def test_telegram_contact_button_links_whatsapp(pipeline: Pipeline) -> None:
    a, _, c = await run(
        pipeline,
        wa("+79261234567", "", "Есть ли запись на диагностику ходовой?", 0),
        tg(777, "Dmitry", "Привет, это я писал в вотсап", 60),
        tg(777, "Dmitry", "", 61, contact="79261234567"),
    )
    assert a == c


async def test_office_phone_is_shared_not_merged(pipeline: Pipeline, store: BaseStore) -> None:
    a, b = await run(
        pipeline,
        web("Анна Кузнецова", "Счёт для ООО Ромашка на ТО трёх машин", 0, phone="+74957778899"),
        web("Дмитрий Орлов", "Нужна мойка для служебного Фокуса", 90, phone="+74957778899"),
    )
    assert a != b
    assert "phone:+74957778899" in await store.shared_among(["phone:+74957778899"])
    pending = await store.suggestions()
    assert len(pending) == 1 and {pending[0].a, pending[0].b} == {a, b}
    # A third colleague through the same line: still nobody merged automatically.
    (c,) = await run(pipeline, wa("+74957778899", "Сергей", "Когда забрать машину?", 200))
    assert len({a, b, c}) == 3


async def test_generic_values_never_link(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        web("Пётр", "Сколько стоит покраска бампера Octavia?", 0, phone="0000000", email="test@test.com"),
        web("Мария", "Сколько стоит полировка фар Solaris?", 10, phone="0000000", email="test@test.com"),
    )
    assert a != b


async def test_namesakes_with_generic_texts_do_not_merge(pipeline: Pipeline) -> None:
    a, b = await run(pipeline, avito(1, "Иван", "Актуально?", 0), tg(2, "Иван", "Актуально?", 2))
    assert a != b


async def test_evidence_link_needs_text_and_name(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        tg(10, "Саша", "Сколько стоит замена ремня ГРМ на Polo?", 0),
        avito(20, "Мария", "Сколько стоит замена ремня ГРМ на Polo?", 2),
    )
    assert a != b


async def test_unknown_name_with_same_text_merges_only_in_a_burst(pipeline: Pipeline, store: BaseStore) -> None:
    a, b = await run(
        pipeline,
        tg(11, "☀️", "Сколько стоит замена колодок на Camry 70?", 0),
        avito(21, "Виктор", "Сколько стоит замена колодок на Camry 70?", 2),
    )
    assert a == b
    c, d = await run(
        pipeline,
        tg(14, "☀️", "Сколько стоит покраска крыла на Octavia A7?", 100),
        avito(24, "Виктор", "Сколько стоит покраска крыла на Octavia A7?", 125),
    )
    assert c != d
    # Whether 25 minutes apart is worth a reviewer's look is the model's call (a match probability
    # at or above the review threshold); it is never a merge.
    assert len(await store.suggestions()) <= 1


async def test_a_first_name_and_a_surname_are_halves_of_one_name(pipeline: Pipeline) -> None:
    # "Елена" on Avito and "Калашникова" alone on Telegram do not disagree: the same question within
    # minutes links them as it would two accounts with no names at all. (A question not among the
    # shipped model's common ones: a stock question agrees by chance too often to link nameless accounts.)
    a, b = await run(
        pipeline,
        avito(41, "Елена", "Сколько стоит развал-схождение на Lada Largus 2016?", 0),
        tg(42, "🙂", "Сколько стоит развал-схождение на Lada Largus 2016?", 2, last="Калашникова"),
    )
    assert a == b
    # A rare given name read as a surname still disagrees with another given name.
    c, d = await run(
        pipeline,
        avito(43, "Игорь", "Сколько стоит покраска бампера на Rapid?", 30),
        tg(44, "Кондрат", "Сколько стоит покраска бампера на Rapid?", 32),
    )
    assert c != d


async def test_a_text_sent_by_two_people_identifies_nobody(pipeline: Pipeline) -> None:
    a, b, c = await run(
        pipeline,
        avito(31, "Екатерина", "Есть доставка в Москву? Интересует велосипед Stels", 0),
        web("Максим", "Есть доставка в Москву? Интересует велосипед Stels", 3, phone="+79161110001"),
        wa("+79227318499", "", "есть доставка в москву? интересует велосипед stels?!", 5),
    )
    assert len({a, b, c}) == 3


async def test_not_the_same_person_is_remembered(pipeline: Pipeline, store: BaseStore) -> None:
    a, b = await run(
        pipeline,
        tg(12, "☀️", "Сколько стоит развал-схождение на Kia Ceed?", 0),
        avito(22, "Виктор", "Сколько стоит развал-схождение на Kia Ceed?", 25),
    )
    await pipeline.merger.not_same(a, b, actor="anna", at=T0)
    assert await store.suggestions() == []
    with pytest.raises(MergeRefused):
        await pipeline.merger.perform(a, b, kind=MergeKind.MANUAL, evidence=[], actor="anna", at=T0)
    # The same evidence again does not even suggest them.
    (c,) = await run(pipeline, tg(12, "☀️", "Сколько стоит развал-схождение на Kia Ceed?", 27))
    assert c == a and await store.suggestions() == []


async def test_split_restores_both_sides_and_is_remembered(pipeline: Pipeline, store: BaseStore) -> None:
    envs = [
        tg(13, "Саша", "Нужна замена сцепления на Ford Focus 3", 0, last="Петров"),
        avito(23, "Александр П.", "Нужна замена сцепления на Ford Focus 3", 2),
    ]
    a, b = await run(pipeline, *envs)
    assert a == b
    merge = (await store.merges())[0]
    leads_before = await store.leads_of(await store.members_of(a))
    split = await pipeline.merger.split(merge.merge_id, actor="anna", at=T0 + timedelta(hours=1))
    assert split.kind is MergeKind.SPLIT and split.undoes == merge.merge_id
    ra, rb = await roots(pipeline, envs)
    assert ra != rb
    assert {p.key for p in await store.profiles_of(ra)} == {"telegram:13"}
    assert {p.key for p in await store.profiles_of(rb)} == {"avito:23"}
    # The lead stays with the side that opened it; the avito side gets one of its own for its inquiry.
    (kept,) = await store.leads_of(await store.members_of(ra))
    (own,) = await store.leads_of(await store.members_of(rb))
    assert [kept.lead_id] == [lead.lead_id for lead in leads_before] and own.lead_id != kept.lead_id
    # Splitting twice is refused; the same evidence never merges them again.
    with pytest.raises(MergeRefused):
        await pipeline.merger.split(merge.merge_id, actor="anna", at=T0)
    (c,) = await run(pipeline, avito(23, "Александр П.", "Нужна замена сцепления на Ford Focus 3", 70))
    assert c == rb and c != ra


async def test_replaying_the_same_event_changes_nothing(pipeline: Pipeline, store: BaseStore) -> None:
    env = wa("+79123450000", "Ольга", "Когда можно приехать на шиномонтаж?", 0)
    await run(pipeline, env)
    before = await store.counts()
    assert (await pipeline.ingest(env)).outcome is Outcome.DUPLICATE
    assert await store.counts() == before


async def test_a_provider_retry_under_another_event_id_is_one_message(pipeline: Pipeline, store: BaseStore) -> None:
    env = wa("+79123450001", "Ольга", "Когда можно приехать на шиномонтаж?", 0)
    await run(pipeline, env)
    again = Envelope(id="other-id", channel=env.channel, received_at=env.received_at, payload=env.payload)
    assert (await pipeline.ingest(again)).outcome is Outcome.DUPLICATE
    assert (await store.counts())["messages"] == 1


async def test_a_crash_in_the_middle_of_an_event_leaves_the_store_consistent(
    pipeline: Pipeline, store: BaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run(pipeline, wa("+79123450002", "Ольга", "Есть ли запись на мойку?", 0))
    before = await store.counts()

    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(pipeline.leads, "on_message", crash)
    with pytest.raises(RuntimeError):
        await pipeline.ingest(web("Ольга", "Есть ли запись на мойку?", 2, phone="+79123450002"))
    assert await store.counts() == before
    assert await store.pending_events(10) == []
    monkeypatch.undo()
    (person,) = await run(pipeline, web("Ольга", "Есть ли запись на мойку?", 2, phone="+79123450002"))
    assert (await store.counts())["persons"] == before["persons"]
    assert person


async def test_a_person_grows_past_the_cap_only_through_review(store: BaseStore) -> None:
    from dataclasses import replace

    from core.config import ResolverSettings, Settings

    settings = replace(Settings.from_env({}), resolver=ResolverSettings(max_profiles=2))
    pipeline = Pipeline(store, settings)
    envs = [web("Олег Смирнов", "Нужен шиномонтаж R16", i, email="oleg@yandex.ru", visitor=f"v{i}") for i in range(3)]
    persons = await run(pipeline, *envs)
    assert persons[0] == persons[1] != persons[2]
    assert len(await store.suggestions()) == 1


async def test_the_same_full_name_days_apart_is_suggested_never_merged(pipeline: Pipeline, store: BaseStore) -> None:
    a, b = await run(
        pipeline,
        web("Светозар Блинов", "Подскажите стоимость тура в Турцию на май", 0, email="a@a"),
        tg(41, "Светозар", "Сколько стоит замена ремня ГРМ на Haval Jolion?", 60 * 24 * 2, last="Блинов"),
    )
    assert a != b
    (suggestion,) = await store.suggestions()
    assert {suggestion.a, suggestion.b} == {a, b}
    assert any("same full name" in e.detail for e in suggestion.evidence)


async def test_the_blocking_index_forgets_what_it_will_never_read(pipeline: Pipeline, store: BaseStore) -> None:
    day = 60 * 24
    a, b, c = await run(
        pipeline,
        web("Светозар Блинов", "Подскажите стоимость тура в Турцию на май", 0, email="a@a"),
        tg(51, "Светозар", "Сколько стоит замена ремня ГРМ на Haval Jolion?", 13 * day, last="Блинов"),
        avito(52, "Светозар Блинов", "Есть в наличии летние шины на Tiggo 7?", 40 * day),
    )
    # Thirteen days apart the full name is still found (a suggestion); 27 days later the index no
    # longer holds the older messages at all.
    assert len({a, b, c}) == 3
    assert len(await store.suggestions()) == 1
    keys = [f"f:{key}" for key in full_name_keys("Светозар Блинов")]
    hits = await store.recent(keys, T0, 10)
    assert hits and all(hit.at >= T0 + timedelta(days=40) for hit in hits)


async def test_two_verified_numbers_link_whatever_the_names(pipeline: Pipeline) -> None:
    a, _, c = await run(
        pipeline,
        tg(42, "🐾", "Интересует холодильник Atlant", 0, last="Жукова"),
        tg(42, "🐾", "", 5, last="Жукова", contact="+79996998175"),
        wa("+79996998175", "Света", "Есть доставка в Химки? Интересует iPhone 13", 60 * 24 * 3),
    )
    assert a == c


async def test_a_business_account_behind_a_phone_links_nobody(pipeline: Pipeline, store: BaseStore) -> None:
    a, b = await run(
        pipeline,
        web("Сергей Одинцов", "Интересует шиномонтаж на Nissan Qashqai", 0, phone="8 (960) 292-41-15"),
        wa("+79602924115", "АО «Гранит»", "Подскажите стоимость тура в Египет на март", 1),
    )
    assert a != b
    assert "phone:+79602924115" in await store.shared_among(["phone:+79602924115"])


async def test_one_surname_in_two_genders_is_a_family_not_a_person(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        wa("+79175092067", "Пелагея Баранова", "Велосипед Stels ещё в наличии?", 0),
        web("Баранов Олег", "Замена антифриза в пятницу", 60 * 24 * 2, phone="89175092067"),
    )
    assert a != b
