"""A decision is never impossible, and the resolver's behaviours on traffic it was not tuned on.

Conflicts: whatever combination of persons marked "not the same person" the evidence points at, the
message is resolved (it joins the side with the strongest evidence, or its own person) and the other
side waits for review. Then: typed identifiers equal to channel-verified ones, given-name typos inside
a burst, profiles with no name between clashing names, Telegram usernames on another account.
"""

from __future__ import annotations

from datetime import timedelta

from app.ingest import Outcome, Pipeline
from core.records import MergeKind, SuggestionStatus
from core.values import Envelope
from store.base import BaseStore
from tests.resolver.test_links import roots, run
from tests.resolver.traffic import T0, avito, tg, wa, web

DAY = 60 * 24
QUESTION = "Здравствуйте! Сколько стоит замена масла на Kia Rio?"


async def split_all(pipeline: Pipeline) -> None:
    for merge in await pipeline.store.merges():
        if merge.kind is not MergeKind.SPLIT and merge.undone_by is None:
            await pipeline.merger.split(merge.merge_id, actor="sue", at=T0 + timedelta(hours=1))


async def ingest_ok(pipeline: Pipeline, env: Envelope) -> str:
    result = await pipeline.ingest(env)
    assert result.outcome is Outcome.INGESTED, result
    return await pipeline.store.root_of(result.person_id)


async def pending_pairs(store: BaseStore) -> set[frozenset[str]]:
    out = set()
    for s in await store.suggestions(SuggestionStatus.PENDING):
        out.add(frozenset({await store.root_of(s.a), await store.root_of(s.b)}))
    return out


async def test_after_a_split_the_same_phone_on_a_new_form_joins_one_side(pipeline: Pipeline, store: BaseStore) -> None:
    """The new user's story: split the WhatsApp merge, then the customer writes again through the form."""
    first = [
        wa("+79123456789", "Alexander", QUESTION, 0),
        web("Петров Александр", "Замена масла Kia Rio, сколько стоит?", 5, phone="8 (912) 345-67-89"),
    ]
    await run(pipeline, *first)
    await split_all(pipeline)
    a, b = await roots(pipeline, first)
    assert a != b
    # A new visitor id: the form's phone matches the WhatsApp person and the earlier form's person.
    c = await ingest_ok(pipeline, web("Петров Александр", "Ещё вопрос по замене масла", 3 * DAY, phone="89123456789"))
    assert c in {a, b}
    other = ({a, b} - {c}).pop()
    assert frozenset({c, other}) in await pending_pairs(store)
    conflict = [s for s in await store.suggestions() if any(e.rule == "conflict" for e in s.evidence)]
    assert conflict and "not the same" in " ".join(e.detail for e in conflict[0].evidence)


async def test_the_side_with_stronger_evidence_wins(pipeline: Pipeline, store: BaseStore) -> None:
    first = [
        wa("+79161110000", "", "Добрый день, запишите на ТО", 0),
        web("Ирина Соколова", "Хочу на ТО", 3, phone="+79161110000", email="irina.s@mail.ru"),
    ]
    await run(pipeline, *first)
    await split_all(pipeline)
    wa_person, form_person = await roots(pipeline, first)
    # Phone and e-mail point at the form's person, the phone alone at the WhatsApp one.
    c = await ingest_ok(
        pipeline, web("Ирина Соколова", "Снова на ТО", 20 * DAY, phone="+79161110000", email="irina.s@mail.ru")
    )
    assert c == form_person and c != wa_person


async def test_three_persons_kept_apart_pairwise(pipeline: Pipeline, store: BaseStore) -> None:
    phone = "+79035550001"
    envs = [wa(phone, "", "Нужна покраска бампера", 0), web("Олег", "Покраска бампера", 2, phone=phone)]
    envs.append(web("Олег", "Покраска бампера, сколько?", 4, email="oleg@example.com", phone=phone))
    await run(pipeline, *envs)
    await split_all(pipeline)
    persons = set(await roots(pipeline, envs))
    for x in persons:
        for y in persons - {x}:
            if not await pipeline.merger.cannot_link(await store.members_of(x), await store.members_of(y)):
                await pipeline.merger.not_same(x, y, actor="sue", at=T0)
    c = await ingest_ok(pipeline, web("Олег", "Когда забрать?", 30 * DAY, phone=phone, email="oleg@example.com"))
    assert c in persons


async def test_own_person_kept_apart_from_the_evidence(pipeline: Pipeline, store: BaseStore) -> None:
    a, b = await run(
        pipeline,
        tg(71, "Антон", "Сколько стоит замена ремня ГРМ на Logan?", 0),
        avito(72, "Антон", "Сколько стоит замена ремня ГРМ на Logan?", 3),
    )
    assert a == b
    await split_all(pipeline)
    telegram, avito_person = await store.person_of_profile("telegram:71"), await store.person_of_profile("avito:72")
    assert telegram and avito_person and telegram != avito_person
    # The Telegram account writes again with the same question: it stays its own person, no suggestion.
    c = await ingest_ok(pipeline, tg(71, "Антон", "Сколько стоит замена ремня ГРМ на Logan?", 60))
    assert c == telegram
    assert frozenset({telegram, avito_person}) not in await pending_pairs(store)


async def test_a_shared_identifier_between_persons_kept_apart(pipeline: Pipeline, store: BaseStore) -> None:
    phone = "+79267770000"
    envs = [
        web("Анна Кузнецова", "Запись на диагностику", 0, phone=phone),
        web("Пётр Кузнецов", "Запись на шиномонтаж", DAY, phone=phone),
    ]
    a, b = await run(pipeline, *envs)
    assert a != b  # different names: the phone became shared
    await pipeline.merger.not_same(a, b, actor="sue", at=T0)
    c = await ingest_ok(pipeline, wa(phone, "Анна Кузнецова", "Анна, запишите на диагностику", 2 * DAY))
    assert c != b


async def test_a_merged_away_id_in_a_conflict(pipeline: Pipeline, store: BaseStore) -> None:
    envs = [
        tg(81, "Саша", QUESTION, 0, last="Петров"),
        wa("+79125550000", "Alexander", QUESTION, 1),
        web("Петров Александр", QUESTION, 4, phone="+79125550000", email="sasha.p@mail.ru"),
    ]
    await run(pipeline, *envs)
    merges = [m for m in await store.merges() if m.kind is MergeKind.AUTO]
    assert merges
    # Split only the last merge: the first person keeps an id merged into it.
    await pipeline.merger.split(merges[-1].merge_id, actor="sue", at=T0 + timedelta(hours=1))
    c = await ingest_ok(pipeline, web("Петров Александр", "Ещё вопрос", 9 * DAY, phone="+79125550000"))
    assert await store.get_person(c) is not None and (await store.get_person(c)).merged_into is None  # type: ignore[union-attr]


# -- behaviours -----------------------------------------------------------------------------------


async def test_a_typed_phone_equal_to_a_whatsapp_number_links_weeks_later(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        wa("+79031234567", "", "Добрый день, есть ли свободное время на ТО?", 0),
        web("Григорий Власов", "Хочу записаться на ТО", 20 * DAY, phone="8 903 123-45-67"),
    )
    assert a == b


async def test_two_forms_weeks_apart_with_the_same_name_and_phone_link(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        web("Зинаида Орлова", "Нужна химчистка салона", 0, phone="+79056667788", email="z.orlova@mail.ru"),
        web("Зинаида Орлова", "Снова химчистка", 25 * DAY, phone="+79056667788", email="zina1980@yandex.ru"),
    )
    assert a == b


async def test_a_typed_phone_without_names_on_both_sides_stays_in_its_burst(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        web("", "Нужна химчистка салона", 0, phone="+79056660000"),
        web("", "Сколько стоит полировка?", 25 * DAY, phone="+79056660000"),
    )
    assert a != b


async def test_a_given_name_typo_does_not_split_a_burst(pipeline: Pipeline) -> None:
    text = "Подскажите, сколько стоит замена тормозных колодок на Skoda Octavia?"
    a, b, c = await run(
        pipeline,
        tg(91, "Епифан", text, 0),
        avito(92, "Еифан", text, 2),
        web("Епифан Соколов", text, 4),
    )
    assert a == b == c


async def test_a_nameless_profile_never_bridges_clashing_names(pipeline: Pipeline) -> None:
    text = "Добрый день! Сколько стоит диагностика подвески?"
    a, b, c = await run(
        pipeline,
        web("Кузьма Терентьев", text, 0),
        wa("+79998887766", "", text, 6),
        tg(93, "Филарет", text, 14),
    )
    assert c != a or c != b
    person = await pipeline.store.root_of(c)
    names = {p.name for p in await pipeline.store.profiles_of(person) if p.name}
    assert not {"Кузьма Терентьев", "Филарет"} <= names


async def test_a_nickname_asking_the_same_question_within_minutes_links(pipeline: Pipeline) -> None:
    """A nickname ("Kot") says nothing about the name behind it, so it does not disagree with one."""
    text = "Добрый вечер, письменный стол из дуба — какие цвета есть? Нам в Ленинский район."
    a, b = await run(pipeline, web("Георгий Сазонов", text, 0), tg(94, "Kot", text, 2))
    assert a == b


async def test_a_nickname_behind_a_typed_number_does_not_link(pipeline: Pipeline) -> None:
    """A family phone: the owner's nickname on WhatsApp, another member's name typed in a form."""
    a, b = await run(
        pipeline,
        wa("+79031112233", "Котик", "Есть в наличии диван Лофт?", 0),
        web("Никита Орлов", "Сколько стоит шкаф-купе 180 см?", 20 * DAY, phone="8 903 111-22-33"),
    )
    assert a != b


async def test_colleagues_with_one_surname_on_an_office_line_stay_apart(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        wa("+74957654321", "Элеонора Лобанова", "Нужен счёт на оплату ТО", 0),
        web("Алина Лобанова", "Пришлите акт сверки", 3 * DAY, phone="+74957654321"),
    )
    assert a != b


async def test_a_telegram_username_on_another_account_needs_agreeing_names(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        tg(101, "Игорь", "Нужна мойка", 0, username="moto_fan"),
        tg(102, "Марина", "Есть запись на шиномонтаж?", 30 * DAY, username="moto_fan"),
    )
    assert a != b
    c, d = await run(
        pipeline,
        tg(103, "Виктор", "Нужна мойка", 0, username="viktor_k"),
        tg(104, "Виктор", "Снова мойка", 30 * DAY, username="viktor_k"),
    )
    assert c == d


async def test_junk_forms_with_placeholder_names_and_addresses_never_link(pipeline: Pipeline) -> None:
    a, b = await run(
        pipeline,
        web("test", "проверка", 0, email="a@a.ru"),
        web("тест", "123", 3 * DAY, email="a@a.ru"),
    )
    assert a != b
