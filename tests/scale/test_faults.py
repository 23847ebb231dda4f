"""Faults in the middle of 10,000 events: a worker killed with SIGKILL, Redis killed and restarted (AOF).

Either way every event ends resolved exactly once: all done, one message each, none dead-lettered,
and the partition into persons equals a clean run's (`bench.synth.truth`, which the grouping test
shows SQLite's sequential run produces).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from scale_helpers import spawn_worker, worker_settings

from app.ingest import Pipeline
from app.streams import RedisStreamQueue, enqueue_files
from bench.synth import partition, truth, write
from core.config import Settings
from store.redis import RedisStore

EVENTS = 10_000
FAULT_AT = 2_500  # events done before the fault
DEADLINE_S = 400  # generous: CI machines are shared; the runs take ~1.5-3 minutes

pytestmark = pytest.mark.scale


async def _done(store: RedisStore) -> int:
    try:
        return (await store.event_counts()).get("done", 0)
    except Exception:
        return -1


async def _wait_done(store: RedisStore, at_least: int, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while await _done(store) < at_least:
        assert time.monotonic() < deadline, "workers made no progress"
        assert any(p.poll() is None for p in procs), "every worker exited early"
        await asyncio.sleep(0.2)


async def _prepared(url: str, tmp_path: Path) -> RedisStore:
    store = RedisStore.from_url(url)
    await store.open()
    await store.drop_everything()
    path = tmp_path / "events.jsonl"
    write(str(path), EVENTS, seed=3)
    settings = replace(Settings(), worker=worker_settings())
    summary = await enqueue_files(Pipeline(store, settings), RedisStreamQueue(store, settings.worker), [str(path)])
    assert summary.ingested == EVENTS
    return store


async def _assert_exactly_once(store: RedisStore) -> None:
    assert await store.event_counts() == {"done": EVENTS}
    counts = await store.counts()
    assert counts["messages"] == EVENTS
    assert await partition(store) == truth(EVENTS, seed=3)
    assert await RedisStreamQueue(store, worker_settings()).dead_letters() == []


def _finish(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        try:
            p.wait(timeout=DEADLINE_S)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


async def test_a_worker_killed_mid_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    # DB 13 is this test's own; only keys under the store's prefix are dropped.
    url = "redis://127.0.0.1:6379/13"
    store = await _prepared(url, tmp_path)
    try:
        victim = spawn_worker(url, "victim")
        await _wait_done(store, FAULT_AT, [victim])
        victim.kill()  # SIGKILL: no cleanup, entries in flight stay pending, locks expire by lease
        victim.wait()
        heir = spawn_worker(url, "heir")
        _finish([heir])
        await _assert_exactly_once(store)
    finally:
        await store.drop_everything()
        await store.close()


def _redis_server(port: int, folder: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG":
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def aof_port() -> int:
    return 6391


@pytest.fixture
async def aof_redis(tmp_path: Path, aof_port: int) -> AsyncIterator[tuple[str, Path]]:
    folder = tmp_path / "aof"
    folder.mkdir()
    proc = _redis_server(aof_port, folder)
    yield f"redis://127.0.0.1:{aof_port}/0", folder
    subprocess.run(["redis-cli", "-p", str(aof_port), "shutdown", "nosave"], capture_output=True)
    proc.kill()
    proc.wait()


async def test_redis_killed_and_restarted_with_aof_mid_run(tmp_path: Path, aof_redis: tuple[str, Path]) -> None:
    url, folder = aof_redis
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    store = await _prepared(url, tmp_path)
    try:
        workers = [spawn_worker(url, "a"), spawn_worker(url, "b")]
        await _wait_done(store, FAULT_AT, workers)
        # SIGKILL the server: with appendfsync always every answered write is on disk.
        pids = subprocess.run(["redis-cli", "-p", str(port), "info", "server"], capture_output=True, text=True)
        pid = int(next(line.split(":")[1] for line in pids.stdout.splitlines() if line.startswith("process_id")))
        subprocess.run(["kill", "-9", str(pid)], check=True)
        await asyncio.sleep(1.0)  # workers see the outage and pause
        restarted = _redis_server(port, folder)
        try:
            _finish(workers)
            # A fresh client: the old one's connections died with the server.
            await store.close()
            store = RedisStore.from_url(url)
            await store.open()
            await _assert_exactly_once(store)
        finally:
            subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
            restarted.wait()
    finally:
        await store.close()
