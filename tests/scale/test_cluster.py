"""The Redis store on a real three-node Redis Cluster: one slot per store, same grouping as SQLite.

The fixture starts three `redis-server --cluster-enabled yes` processes on free local ports, joins
them with `redis-cli --cluster create` and stops them after the module. It never touches the shared
Redis on 6379.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from scale_helpers import run_workers, unique_prefix, worker_settings

from app.ingest import Pipeline
from app.replay import replay
from app.streams import RedisStreamQueue, enqueue_files
from bench.synth import partition, truth, write
from core.config import Settings
from core.errors import StoreUnavailable
from store import open_store
from store.redis import RedisStore
from store.sqlite import SqliteStore

pytestmark = [
    pytest.mark.scale,
    pytest.mark.skipif(
        not (shutil.which("redis-server") and shutil.which("redis-cli")), reason="redis-server/redis-cli not installed"
    ),
]

EVENTS = 300
NODES = 3
# Cluster nodes also listen on PORT + 10000 (the cluster bus): both must be free.
PORTS = range(17000, 18000)


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports(count: int) -> list[int]:
    picked: list[int] = []
    for port in PORTS:
        if _free(port) and _free(port + 10000):
            picked.append(port)
            if len(picked) == count:
                return picked
    raise RuntimeError("no free ports for a local Redis Cluster")


def _cli(port: int, *args: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, text=True, timeout=10
    )
    return done.stdout


def _pong(port: int) -> bool:
    return _cli(port, "ping").strip() == "PONG"


def _cluster_ok(port: int) -> bool:
    return "cluster_state:ok" in _cli(port, "cluster", "info")


def _wait(what: str, ready: Callable[[], bool], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"local Redis Cluster: {what} did not happen within {timeout:.0f}s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`redis+cluster://` URL of a fresh local three-node cluster (no replicas, no persistence)."""
    workdir = tmp_path_factory.mktemp("redis-cluster")
    ports = _pick_ports(NODES)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            options = {
                "port": str(port),
                "bind": "127.0.0.1",
                "cluster-enabled": "yes",
                "cluster-config-file": f"nodes-{port}.conf",
                "save": "",
                "appendonly": "no",
                "dir": str(workdir),
                "daemonize": "no",
            }
            argv = ["redis-server", *(a for name, value in options.items() for a in (f"--{name}", value))]
            with open(workdir / f"redis-{port}.log", "wb") as log:
                servers.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
        for port in ports:
            _wait(f"node {port} answering", partial(_pong, port))
        seeds = [f"127.0.0.1:{p}" for p in ports]
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *seeds, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        for port in ports:
            _wait(f"node {port} reporting cluster_state:ok", partial(_cluster_ok, port))
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _settings() -> Settings:
    return replace(Settings(), worker=worker_settings())


async def _sqlite_partition(
    tmp_path: Path, path: Path, settings: Settings
) -> tuple[frozenset[frozenset[str]], dict[str, int]]:
    sqlite = SqliteStore(tmp_path / "stitch.db")
    await sqlite.open()
    try:
        await replay(Pipeline(sqlite, settings), [str(path)], progress=False)
        return await partition(sqlite), await sqlite.counts()
    finally:
        await sqlite.close()


async def _assert_one_slot(store: RedisStore) -> None:
    """Every key of the store hashes to the slot of its tag, and that slot holds exactly those keys."""
    client = store.client
    slot = int(await client.cluster_keyslot(store.key("seq")))
    keys = [k async for batch in store._scan(store.key("*")) for k in batch]
    assert len(keys) > 10
    for key in keys[:: max(1, len(keys) // 25)]:
        assert int(await client.cluster_keyslot(key)) == slot
    # Asked of the node that owns the slot: the slot holds this store's keys and nothing else.
    assert int(await client.cluster_countkeysinslot(slot)) == len(keys)


async def test_cluster_url_forms() -> None:
    store = RedisStore.from_url("redis+cluster://127.0.0.1:1,127.0.0.1:2/?prefix=tenant-a")
    assert store.prefix == "tenant-a"
    assert store.key("seq") == "{tenant-a}:seq"
    assert RedisStore.from_url("redis+cluster://127.0.0.1:1/?prefix=a", prefix="b").prefix == "b"
    assert RedisStore.from_url("redis+cluster://127.0.0.1:1").prefix == "stitch"
    assert isinstance(open_store("redis+cluster://127.0.0.1:1"), RedisStore)
    for bad in (
        "redis+cluster://",
        "redis+cluster://127.0.0.1",
        "redis+cluster://127.0.0.1:1/3",
        "redis+cluster://127.0.0.1:1/?db=2",
    ):
        with pytest.raises(StoreUnavailable):
            RedisStore.from_url(bad)


async def test_in_process_resolution_groups_like_sqlite(cluster_url: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write(str(path), EVENTS)
    settings = _settings()
    expected, expected_counts = await _sqlite_partition(tmp_path, path, settings)
    assert expected == truth(EVENTS)

    store = RedisStore.from_url(cluster_url, prefix=unique_prefix(), lock_lease_s=5, lock_wait_s=20)
    await store.open()
    try:
        summary = await replay(Pipeline(store, settings), [str(path)], progress=False)
        assert summary.ingested == EVENTS
        assert await partition(store) == expected
        assert await store.counts() == expected_counts
        assert await store.event_counts() == {"done": EVENTS}
        # SSCAN over the blocks index, on the node that owns the slot.
        assert await store.prune_recent(datetime(2000, 1, 1, tzinfo=UTC)) == 0
        await _assert_one_slot(store)
    finally:
        assert await store.drop_everything() > 0
        await store.close()


async def test_stream_workers_resolve_through_the_cluster(cluster_url: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write(str(path), EVENTS)
    settings = _settings()
    expected, expected_counts = await _sqlite_partition(tmp_path, path, settings)

    prefix = unique_prefix()
    store = RedisStore.from_url(f"{cluster_url}/?prefix={prefix}")
    assert store.prefix == prefix
    await store.open()
    try:
        queue = RedisStreamQueue(store, settings.worker)
        summary = await enqueue_files(Pipeline(store, settings), queue, [str(path)])
        assert summary.ingested == EVENTS
        processed = await run_workers(cluster_url, prefix, 2, settings)
        assert sum(processed) >= EVENTS
        assert await store.event_counts() == {"done": EVENTS}
        assert await queue.backlog() == 0
        assert await queue.dead_letters() == []
        assert await partition(store) == expected
        assert await store.counts() == expected_counts
        await _assert_one_slot(store)
        # The writer lease lives in the graph's own slot (and was given back by the worker that held it).
        lease = store.key("lease")
        assert int(await store.client.cluster_keyslot(lease)) == int(
            await store.client.cluster_keyslot(store.key("seq"))
        )
        assert await store.client.get(lease) is None
        # Dead-lettering is a MULTI pipeline (XADD, XACK, HDEL): allowed because its keys share the slot.
        entry = await store.client.xadd(queue.stream, {"event": "nothing"})
        await queue.to_dead(entry, "nothing", "test", 5)
        assert [d.event_id for d in await queue.dead_letters()] == ["nothing"]
    finally:
        await store.drop_everything()
        await store.close()


async def test_a_released_lock_wakes_a_waiter_on_another_client(cluster_url: str) -> None:
    prefix = unique_prefix()
    holder = RedisStore.from_url(cluster_url, prefix=prefix, lock_lease_s=5, lock_wait_s=20)
    waiter = RedisStore.from_url(cluster_url, prefix=prefix, lock_lease_s=5, lock_wait_s=20)
    await holder.open()
    await waiter.open()
    try:
        held = asyncio.Event()
        release = asyncio.Event()

        async def hold() -> None:
            async with holder.lock(["blk:x", "id:y"]):
                held.set()
                await release.wait()

        async def wait() -> None:
            await held.wait()
            async with waiter.lock(["id:y"]):
                pass

        holding = asyncio.create_task(hold())
        waiting = asyncio.create_task(wait())
        await held.wait()
        # The waiter has found the key busy at least once (it is counted in `lockwait`) before the release.
        _wait_for = asyncio.get_running_loop().time() + 20
        while waiter.lock_retries == 0 and asyncio.get_running_loop().time() < _wait_for:
            await asyncio.sleep(0.01)
        assert waiter.lock_retries >= 1
        release.set()
        await asyncio.gather(holding, waiting)
        assert not [k async for batch in holder._scan(holder.key("lock", "*")) for k in batch]
    finally:
        await holder.drop_everything()
        await holder.close()
        await waiter.close()
