"""The SQLite store keeps the identity graph's rows in memory across transactions: what it answers
from memory must always be what a fresh connection reads from the file."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.records import Lead, LeadStatus, Person, Profile, RecentHit
from core.values import Channel
from store.sqlite import SqliteStore

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
PERSONS = [f"p{i}" for i in range(6)]
BLOCKS = ["n:g:anna", "t:divan", "f:anna|petrova"]


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    """The writer, and a second connection to the same file that reads outside any transaction."""
    writer, reader = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    await writer.open()
    await reader.open()
    yield writer, reader
    await reader.close()
    await writer.close()


def profile(key: str, person: str, at: datetime, name: str = "Анна") -> Profile:
    return Profile(
        key=key,
        channel=Channel.TELEGRAM,
        user_id=key,
        account="bot",
        chat_id=key,
        name=name,
        handle="",
        person_id=person,
        first_seen=T0,
        last_seen=at,
    )


def lead(lead_id: str, person: str, at: datetime) -> Lead:
    return Lead(
        lead_id=lead_id,
        person_id=person,
        status=LeadStatus.NEW,
        is_repeat=False,
        created_at=at,
        last_activity=at,
        channel=Channel.TELEGRAM,
    )


async def graph(store: SqliteStore, at: datetime) -> tuple[object, ...]:
    """Everything the resolver reads, as one comparable value."""
    keys = [f"k{i}" for i in range(8)]
    return (
        await store.get_profiles(keys),
        [await store.get_person(p) for p in PERSONS],
        await store.children_of(PERSONS),
        [await store.profile_keys_of([p]) for p in PERSONS],
        [await store.cannot_links_of([p]) for p in PERSONS],
        [await store.leads_of([p]) for p in PERSONS],
        await store.leads_of(PERSONS),
        [await store.recent([b], at - timedelta(minutes=30), 3) for b in BLOCKS],
        await store.recent(BLOCKS, at - timedelta(days=14), 10),
    )


async def test_answers_from_memory_match_the_file_through_every_kind_of_write(
    pair: tuple[SqliteStore, SqliteStore],
) -> None:
    writer, reader = pair
    rng = random.Random(7)
    for p in PERSONS:
        await writer.add_person(Person(person_id=p, created_at=T0, display_name=p))
    at = T0
    for step in range(300):
        at += timedelta(minutes=rng.choice([1, 5, 40, 600]))
        async with writer.atomic():
            match rng.randrange(6):
                case 0:
                    key = f"k{rng.randrange(8)}"
                    await writer.put_profile(profile(key, rng.choice(PERSONS), at, rng.choice(["Анна", "Аня", ""])))
                case 1:
                    child, parent = rng.sample(PERSONS, 2)
                    await writer.set_merged_into(child, rng.choice([parent, None]))
                case 2:
                    await writer.add_cannot_link(*rng.sample(PERSONS, 2), "anna", at)
                case 3:
                    await writer.put_lead(lead(f"l{rng.randrange(10)}", rng.choice(PERSONS), at))
                case 4:
                    late = at - timedelta(minutes=rng.choice([0, 0, 3, 50]))
                    hit = RecentHit(profile_key=f"k{rng.randrange(8)}", event_id=f"e{step}", at=late, text="диван")
                    await writer.add_recent(rng.sample(BLOCKS, rng.randint(1, 3)), hit)
                case _:
                    await writer.update_person(rng.choice(PERSONS), display_name=f"name {step}")
            if rng.random() < 0.05:
                await writer.prune_recent(at - timedelta(days=1))
            cached = await graph(writer, at)
        assert cached == await graph(reader, at), f"step {step}"


async def test_another_connections_commit_is_seen_at_the_next_transaction(
    pair: tuple[SqliteStore, SqliteStore],
) -> None:
    writer, other = pair
    async with writer.atomic():
        await writer.add_person(Person(person_id="p1", created_at=T0, display_name="Анна"))
        await writer.put_profile(profile("k1", "p1", T0))
        assert await writer.recent(["n:g:anna"], T0 - timedelta(days=1), 10) == []
    async with other.atomic():  # e.g. `stitch graph split` run beside `stitch serve`
        await other.put_profile(profile("k1", "p2", T0))
        await other.add_cannot_link("p1", "p2", "anna", T0)
        await other.add_recent(["n:g:anna"], RecentHit(profile_key="k2", event_id="e2", at=T0, text="x"))
    async with writer.atomic():
        assert (await writer.get_profiles(["k1"]))["k1"].person_id == "p2"
        assert await writer.cannot_links_of(["p1"]) == {"p2"}
        assert [h.event_id for h in await writer.recent(["n:g:anna"], T0 - timedelta(days=1), 10)] == ["e2"]


async def test_a_rollback_leaves_nothing_it_took_back_in_memory(pair: tuple[SqliteStore, SqliteStore]) -> None:
    writer, _ = pair
    async with writer.atomic():
        await writer.add_person(Person(person_id="p1", created_at=T0, display_name="Анна"))
        await writer.put_lead(lead("l1", "p1", T0))
        assert await writer.leads_of(["p1"]) != []
    with pytest.raises(RuntimeError):
        async with writer.atomic():
            await writer.put_profile(profile("k1", "p1", T0))
            await writer.put_lead(lead("l1", "p2", T0))
            await writer.add_recent(["n:g:anna"], RecentHit(profile_key="k1", event_id="e1", at=T0, text="x"))
            assert [h.event_id for h in await writer.recent(["n:g:anna"], T0 - timedelta(days=1), 10)] == ["e1"]
            raise RuntimeError("the event failed")
    async with writer.atomic():
        assert await writer.get_profiles(["k1"]) == {}
        assert [x.person_id for x in await writer.leads_of(["p1"])] == ["p1"]
        assert await writer.recent(["n:g:anna"], T0 - timedelta(days=1), 10) == []
