"""The same events give the same persons through SQLite, one Redis worker and four concurrent ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from scale_helpers import REDIS_URL, run_workers, unique_prefix, worker_settings

from app.ingest import Pipeline
from app.replay import replay
from app.streams import RedisStreamQueue, enqueue_files
from bench.synth import partition, truth, write
from core.config import Settings
from store.redis import RedisStore
from store.sqlite import SqliteStore

EVENTS = 2000


async def _through_redis(
    path: Path, workers: int, settings: Settings
) -> tuple[frozenset[frozenset[str]], dict[str, int]]:
    prefix = unique_prefix()
    store = RedisStore.from_url(REDIS_URL, prefix=prefix)
    await store.open()
    try:
        queue = RedisStreamQueue(store, settings.worker)
        summary = await enqueue_files(Pipeline(store, settings), queue, [str(path)])
        assert summary.ingested == EVENTS
        processed = await run_workers(REDIS_URL, prefix, workers, settings)
        assert sum(processed) >= EVENTS
        assert await store.event_counts() == {"done": EVENTS}
        assert await queue.dead_letters() == []
        return await partition(store), await store.counts()
    finally:
        await store.drop_everything()
        await store.close()


async def test_sqlite_one_worker_and_four_workers_group_alike(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write(str(path), EVENTS)
    settings = replace(Settings(), worker=worker_settings())

    sqlite = SqliteStore(tmp_path / "stitch.db")
    await sqlite.open()
    try:
        await replay(Pipeline(sqlite, settings), [str(path)], progress=False)
        expected = await partition(sqlite)
        expected_counts = await sqlite.counts()
    finally:
        await sqlite.close()
    assert expected == truth(EVENTS)

    one, one_counts = await _through_redis(path, 1, settings)
    four, four_counts = await _through_redis(path, 4, settings)
    assert one == expected
    assert four == expected
    for counts in (one_counts, four_counts):
        assert counts["persons"] == expected_counts["persons"]
        assert counts["messages"] == expected_counts["messages"] == EVENTS
        assert counts["profiles"] == expected_counts["profiles"]


async def test_in_process_replay_on_redis_groups_like_sqlite(tmp_path: Path, redis_store: RedisStore) -> None:
    path = tmp_path / "events.jsonl"
    write(str(path), 600, seed=11)
    summary = await replay(Pipeline(redis_store, Settings()), [str(path)], progress=False)
    assert summary.ingested == 600
    assert await partition(redis_store) == truth(600, seed=11)
    assert (await redis_store.counts())["messages"] == 600
