"""Shared pieces of the scale tests: in-process workers and subprocess workers over one Redis."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path

from app.ingest import Pipeline
from app.streams import RedisStreamQueue, StreamWorker
from core.config import Settings, WorkerSettings
from store.redis import RedisStore

ROOT = Path(__file__).resolve().parents[2]
# Same defaults as tests/conftest.py (the shared Redis; tests use their own prefix or DB).
REDIS_URL = os.environ.get("STITCH_TEST_REDIS", "redis://127.0.0.1:6379/15")


def unique_prefix() -> str:
    return f"test-{secrets.token_hex(4)}"


def worker_settings(**overrides: float) -> WorkerSettings:
    base = {"claim_idle_s": 1.0, "lock_lease_s": 3.0, "lock_wait_s": 30.0}
    base.update(overrides)
    return WorkerSettings(**base)  # type: ignore[arg-type]


async def run_workers(url: str, prefix: str, count: int, settings: Settings) -> list[int]:
    """`count` workers as asyncio tasks, each with its own client (as separate processes would be)."""
    stores = [RedisStore.from_url(url, prefix=prefix, lock_lease_s=3, lock_wait_s=30) for _ in range(count)]
    try:
        workers = []
        for i, store in enumerate(stores):
            await store.open()
            queue = RedisStreamQueue(store, settings.worker)
            workers.append(StreamWorker(Pipeline(store, settings), queue, name=f"t{i}"))
        return list(await asyncio.gather(*(w.run(exit_when_idle=True) for w in workers)))
    finally:
        for store in stores:
            await store.close()


def spawn_worker(
    url: str, name: str, *, claim_idle_s: float = 1.0, lock_lease_s: float = 3.0, lease_s: float = 3.0
) -> subprocess.Popen[bytes]:
    """A `stitch worker --exit-when-idle` process; `lease_s` is its writer lease."""
    env = dict(os.environ)
    env.update(
        {
            "STITCH_STORE": url,
            "STITCH_CLAIM_IDLE_S": str(claim_idle_s),
            "STITCH_LOCK_LEASE_S": str(lock_lease_s),
            "STITCH_WORKER_LEASE_S": str(lease_s),
            "PYTHONPATH": str(ROOT),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--name", name, "--exit-when-idle"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
