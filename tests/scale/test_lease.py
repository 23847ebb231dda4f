"""One writer per identity graph: the lease, the standby, the takeover after kill -9, the fence.

Every wait here is for a behaviour (a count reached, a worker standing by); no assertion is about time.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scale_helpers import REDIS_URL, run_workers, spawn_worker, unique_prefix, worker_settings

from app.ingest import Pipeline
from app.replay import replay
from app.streams import WRITER_TOKEN, RedisStreamQueue, StreamWorker, enqueue_files
from bench.synth import partition, truth, write
from core.config import Settings
from core.errors import LeaseLost
from core.records import Evidence, MergeKind, Person
from core.values import Channel, Envelope
from store.base import GRAPH_LOCK
from store.redis import RedisStore
from store.sqlite import SqliteStore

pytestmark = pytest.mark.scale

DEADLINE_S = 300  # only bounds a hung run; never asserted as a duration
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _settings(**worker: float) -> Settings:
    return replace(Settings(), worker=worker_settings(**worker))


async def _until(what: str, ready: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await ready():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)


async def _store(prefix: str) -> RedisStore:
    store = RedisStore.from_url(REDIS_URL, prefix=prefix, lock_lease_s=5, lock_wait_s=30)
    await store.open()
    return store


async def _enqueue(store: RedisStore, path: Path, settings: Settings) -> int:
    summary = await enqueue_files(Pipeline(store, settings), RedisStreamQueue(store, settings.worker), [str(path)])
    return summary.ingested


async def _done(store: RedisStore) -> int:
    return (await store.event_counts()).get("done", 0)


async def test_of_two_workers_one_resolves_and_the_other_stands_by(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write(str(path), 400, seed=5)
    settings = _settings()
    prefix = unique_prefix()
    store = await _store(prefix)
    try:
        assert await _enqueue(store, path, settings) == 400
        processed = await run_workers(REDIS_URL, prefix, 2, settings)
        assert sorted(processed) == [0, 400]
        assert await store.event_counts() == {"done": 400}
        assert await partition(store) == truth(400, seed=5)
        # Both stopped cleanly: the lease was given back.
        assert await store.client.get(store.key("lease")) is None
    finally:
        await store.drop_everything()
        await store.close()


async def test_two_graphs_are_resolved_by_two_writers_at_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write(str(path), 200, seed=6)
    settings = _settings()
    prefixes = [unique_prefix(), unique_prefix()]
    stores = [await _store(p) for p in prefixes]
    try:
        for store in stores:
            assert await _enqueue(store, path, settings) == 200
        # One worker per graph, at the same time: each is its own graph's writer.
        counts = await asyncio.gather(*(run_workers(REDIS_URL, p, 1, settings) for p in prefixes))
        assert counts == [[200], [200]]
        assert {store.key("lease") for store in stores} == {f"{{{p}}}:lease" for p in prefixes}
        for store in stores:
            assert await partition(store) == truth(200, seed=6)
    finally:
        for store in stores:
            await store.drop_everything()
            await store.close()


async def test_a_worker_that_lost_the_lease_stops_writing_and_takes_over_again(tmp_path: Path) -> None:
    whole, first, second = tmp_path / "all.jsonl", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    write(str(whole), 120, seed=8)
    lines = whole.read_text(encoding="utf-8").splitlines(keepends=True)
    first.write_text("".join(lines[:60]), encoding="utf-8")
    second.write_text("".join(lines[60:]), encoding="utf-8")
    settings = _settings(lease_s=1.0)
    prefix = unique_prefix()
    store = await _store(prefix)
    worker_store = await _store(prefix)
    stop = asyncio.Event()
    try:
        worker = StreamWorker(
            Pipeline(worker_store, settings), RedisStreamQueue(worker_store, settings.worker), name="w"
        )
        running = asyncio.create_task(worker.run(stop=stop))
        assert await _enqueue(store, first, settings) == 60
        await _until("the first events resolved", lambda: _equals(_done(store), 60))
        assert worker.writing

        # Another process takes the lease (as after a pause longer than the lease): the worker notices
        # at its next renewal and writes nothing more, not even for events it had not started.
        await store.client.set(store.key("lease"), "thief:0", px=600_000)
        await _until("the worker standing by", lambda: _true(not worker.writing))
        looks, processed = worker.standby_looks, worker.processed
        assert await _enqueue(store, second, settings) == len(lines) - 60
        await _until("five more looks at the lease", lambda: _true(worker.standby_looks >= looks + 5))
        assert await _done(store) == 60
        assert worker.processed == processed
        assert worker.lease.terms == 1

        # The lease is free again: the worker takes over and resolves the rest.
        await store.client.delete(store.key("lease"))
        await _until("every event resolved", lambda: _equals(_done(store), len(lines)))
        assert worker.lease.terms == 2
        assert await partition(store) == truth(120, seed=8)
    finally:
        stop.set()
        await asyncio.wait_for(running, DEADLINE_S)
        await store.drop_everything()
        await store.close()
        await worker_store.close()


async def test_events_delivered_again_after_their_resolution_change_nothing(tmp_path: Path) -> None:
    # What a new writer sees for the entries its predecessor resolved but did not acknowledge.
    path = tmp_path / "events.jsonl"
    write(str(path), 120, seed=9)
    settings = _settings()
    prefix = unique_prefix()
    store = await _store(prefix)
    try:
        assert await _enqueue(store, path, settings) == 120
        assert await run_workers(REDIS_URL, prefix, 1, settings) == [120]
        counts, grouping = await store.counts(), await partition(store)
        feed = await store.client.xlen(store.key("feed"))
        ids = [e.id async for e in store.iter_events()]
        await RedisStreamQueue(store, settings.worker).enqueue_many(ids)
        assert await run_workers(REDIS_URL, prefix, 1, settings) == [120]
        assert await store.counts() == counts
        assert await partition(store) == grouping
        assert await store.event_counts() == {"done": 120}
        assert await store.client.xlen(store.key("feed")) == feed
    finally:
        await store.drop_everything()
        await store.close()


async def test_a_commit_after_the_lease_lapsed_writes_nothing() -> None:
    store = await _store(unique_prefix())
    try:
        await store.client.set(store.key("lease"), "w:mine", px=60_000)
        store.fence = (store.key("lease"), "w:mine")
        envelope = Envelope(id="ev-1", channel=Channel.WEBFORM, received_at=T0, payload={"message": "hi"})
        async with store.atomic():
            assert await store.add_event(envelope)
        # Another worker holds the lease now: a unit that was in flight writes nothing.
        await store.client.set(store.key("lease"), "w:other", px=60_000)
        late = Envelope(id="ev-2", channel=Channel.WEBFORM, received_at=T0, payload={"message": "hi"})
        with pytest.raises(LeaseLost):
            async with store.atomic():
                await store.add_event(late)
        store.fence = None
        assert await store.get_event("ev-1") is not None
        assert await store.get_event("ev-2") is None
    finally:
        await store.drop_everything()
        await store.close()


async def test_a_manual_merge_waits_for_the_writers_batch(tmp_path: Path) -> None:
    prefix = unique_prefix()
    writer, web = await _store(prefix), await _store(prefix)
    try:
        settings = Settings()
        for pid in ("p_a", "p_b"):
            await web.add_person(Person(person_id=pid, created_at=T0, display_name=pid))
        merger = Pipeline(web, settings).merger
        held, release = asyncio.Event(), asyncio.Event()

        async def batch() -> None:
            async with writer.hold_graph(WRITER_TOKEN + "t"):
                held.set()
                await release.wait()

        async def merge() -> None:
            await held.wait()
            async with web.atomic():
                evidence = (Evidence(rule="manual", detail="test"),)
                await merger.perform("p_a", "p_b", kind=MergeKind.MANUAL, evidence=evidence, actor="ops", at=T0)

        holding, merging = asyncio.create_task(batch()), asyncio.create_task(merge())
        # The merge found the graph lock held at least once, and did not go ahead.
        await _until("the merge waiting for the graph lock", lambda: _true(web.lock_retries >= 1))
        assert not merging.done()
        assert await web.root_of("p_b") == "p_b"
        release.set()
        await asyncio.gather(holding, merging)
        assert await web.root_of("p_b") == "p_a"

        # A writer that died holding the graph lock: its successor frees it, a manual hold is kept.
        await writer.client.set(writer.key("lock", GRAPH_LOCK), WRITER_TOKEN + "dead", px=60_000)
        assert await writer.break_graph_lock(WRITER_TOKEN)
        await writer.client.set(writer.key("lock", GRAPH_LOCK), "a-manual-unit", px=60_000)
        assert not await writer.break_graph_lock(WRITER_TOKEN)
    finally:
        await web.drop_everything()
        await web.close()
        await writer.close()


EVENTS = 4000
FAULT_AT = 1200


async def test_the_standby_takes_over_after_kill_9_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write(str(path), EVENTS, seed=4)
    settings = _settings()
    sqlite = SqliteStore(tmp_path / "stitch.db")
    await sqlite.open()
    try:
        await replay(Pipeline(sqlite, settings), [str(path)], progress=False)
        expected, expected_counts = await partition(sqlite), await sqlite.counts()
    finally:
        await sqlite.close()

    prefix = unique_prefix()
    url = f"{REDIS_URL}?prefix={prefix}"
    store = await _store(prefix)
    workers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        assert await _enqueue(store, path, settings) == EVENTS
        workers = {name: spawn_worker(url, name, lease_s=2.0) for name in ("a", "b")}
        await _until("a quarter resolved", lambda: _at_least(_done(store), FAULT_AT))
        holder = str(await store.client.get(store.key("lease")))
        active = holder.split(":", 1)[0]
        standby = next(n for n in workers if n != active)
        workers[active].kill()  # SIGKILL: its entries in flight stay pending, its lease lapses
        workers[active].wait()
        assert workers[standby].wait(timeout=DEADLINE_S) == 0
        # The standby took the lease and resolved the rest: every event once, one message each.
        assert await store.event_counts() == {"done": EVENTS}
        assert await RedisStreamQueue(store, settings.worker).backlog() == 0
        assert await RedisStreamQueue(store, settings.worker).dead_letters() == []
        assert await partition(store) == expected
        counts = await store.counts()
        # Suggestions are left out: which pairs are suggested depends on the order events in flight
        # finish, as between any two runs with concurrency.
        for name in ("persons", "profiles", "messages", "merges", "leads"):
            assert counts.get(name) == expected_counts.get(name), name
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await store.drop_everything()
        await store.close()


async def _equals(count: Awaitable[int], want: int) -> bool:
    return await count == want


async def _at_least(count: Awaitable[int], want: int) -> bool:
    return await count >= want


async def _true(value: bool) -> bool:
    return value
