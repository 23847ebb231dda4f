"""For strong links the final grouping does not depend on arrival order."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from app.export import person_roots
from app.ingest import Pipeline
from core.config import Settings
from core.values import Envelope
from store.sqlite import SqliteStore
from tests.resolver.traffic import web

PEOPLE = [
    ("Анна Кузнецова", "+79160000001", "anna.k@mail.ru"),
    ("Борис Лебедев", "+79160000002", "boris@ya.ru"),
    ("Вера Морозова", "+79160000003", "vera.m@gmail.com"),
    ("Глеб Новиков", "+79160000004", "gleb@bk.ru"),
]


# Unrelated texts an hour apart: only the identifiers can link these events.
TOPICS = [
    "Нужен шиномонтаж",
    "Сколько стоит мойка салона",
    "Запишите на диагностику ходовой",
    "Есть ли в наличии аккумулятор",
    "Хочу поменять масло",
    "Когда можно забрать машину",
    "Нужна покраска бампера",
    "Проверьте кондиционер",
    "Развал-схождение в субботу",
    "Замена колодок",
]


def event(i: int, person: int, use_phone: bool, use_email: bool) -> Envelope:
    name, phone, email = PEOPLE[person]
    # Each event is its own profile (a submission with no visitor id); texts differ so only identifiers link.
    return web(
        name, TOPICS[i % len(TOPICS)], i * 45, phone=phone if use_phone else "", email=email if use_email else ""
    )


async def partition(envelopes: list[Envelope]) -> set[frozenset[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "s.db")
        await store.open()
        pipeline = Pipeline(store, Settings.from_env({}))
        for env in envelopes:
            await pipeline.ingest(env)
        roots = await person_roots(store)
        owner = {p.key: p.person_id async for p in store.iter_profiles()}
        groups: dict[str, set[str]] = {}
        async for m in store.iter_messages():
            groups.setdefault(roots(owner[m.profile_key]), set()).add(m.event_id)
        await store.close()
    return {frozenset(g) for g in groups.values()}


specs = st.lists(
    st.tuples(st.integers(0, len(PEOPLE) - 1), st.booleans(), st.booleans()).filter(lambda t: t[1] or t[2]),
    min_size=2,
    max_size=10,
)


@settings(max_examples=25, deadline=None)
@given(specs=specs, data=st.data())
def test_grouping_is_order_independent(specs: list[tuple[int, bool, bool]], data: st.DataObject) -> None:
    envelopes = [event(i, *spec) for i, spec in enumerate(specs)]
    shuffled = data.draw(st.permutations(envelopes))
    assert asyncio.run(partition(envelopes)) == asyncio.run(partition(list(shuffled)))
