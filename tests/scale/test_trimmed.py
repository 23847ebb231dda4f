"""An ingest stream capped far below its backlog: entries trimmed before anyone acknowledged them,
delivered or never delivered, do not lose their events. The worker enqueues those events again and
every event ends resolved exactly once, as in a run without trimming."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from scale_helpers import worker_settings

from app.ingest import Pipeline
from app.streams import GROUP, RedisStreamQueue, StreamWorker, enqueue_files
from bench.synth import partition, truth, write
from core.config import Settings
from store.redis import RedisStore

EVENTS = 600
MAXLEN = 50  # approximate: Redis trims whole stream nodes (100 entries each), so most entries go


async def test_trimmed_entries_have_their_events_enqueued_again(redis_store: RedisStore, tmp_path: Path) -> None:
    store = redis_store
    path = tmp_path / "events.jsonl"
    write(str(path), EVENTS, seed=5)
    settings = replace(Settings(), worker=worker_settings(stream_maxlen=MAXLEN, claim_idle_s=0.2))
    pipeline = Pipeline(store, settings)
    queue = RedisStreamQueue(store, settings.worker)
    await queue.ensure_group()
    # A consumer that takes the first entries and dies: they are delivered and never acknowledged.
    ghost_path = tmp_path / "first.jsonl"
    ghost_path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:40]), "utf-8")
    await enqueue_files(pipeline, queue, [str(ghost_path)])
    taken = await store.client.xreadgroup(GROUP, "ghost", {queue.stream: ">"}, count=40)
    assert len(taken[0][1]) == 40
    # The rest arrive while nobody reads: the cap trims the ghost's entries and most of the rest.
    summary = await enqueue_files(pipeline, queue, [str(path)])
    assert summary.ingested == EVENTS - 40
    assert await store.client.xlen(queue.stream) < EVENTS - 100

    worker = StreamWorker(pipeline, queue, name="survivor")
    await worker.run(exit_when_idle=True)

    assert await store.event_counts() == {"done": EVENTS}
    assert (await store.counts())["messages"] == EVENTS
    assert await partition(store) == truth(EVENTS, seed=5)
    # The delivered entries that were trimmed are on record for ops, with what became of them.
    dead = await queue.dead_letters()
    assert dead
    assert all("enqueued again" in d.reason for d in dead)
