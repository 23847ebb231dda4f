"""Shared fixtures: real stores (a temporary SQLite file; the Redis on 127.0.0.1:6379)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.avito.fake import FakeAvito
from core.config import Settings
from store.base import BaseStore
from store.redis import RedisStore
from store.sqlite import SqliteStore

BACKENDS = ["sqlite", "redis"]

# The shared Redis of CI and of this machine; tests use their own key prefix and DB, never FLUSHALL.
REDIS_URL = os.environ.get("STITCH_TEST_REDIS", "redis://127.0.0.1:6379/15")


def unique_prefix() -> str:
    return f"test-{secrets.token_hex(4)}"


async def make_store(kind: str, tmp_path: Path, *, prefix: str | None = None) -> BaseStore:
    if kind == "sqlite":
        store: BaseStore = SqliteStore(tmp_path / "stitch.db")
    elif kind == "redis":
        store = RedisStore.from_url(REDIS_URL, prefix=prefix or unique_prefix(), lock_lease_s=5, lock_wait_s=20)
    else:
        raise ValueError(kind)
    await store.open()
    return store


async def close_store(store: BaseStore) -> None:
    if isinstance(store, RedisStore):
        await store.drop_everything()
    await store.close()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BaseStore]:
    s = await make_store(request.param, tmp_path)
    yield s
    await close_store(s)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "stitch.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def redis_store() -> AsyncIterator[RedisStore]:
    s = RedisStore.from_url(REDIS_URL, prefix=unique_prefix(), lock_lease_s=5, lock_wait_s=20)
    await s.open()
    yield s
    await close_store(s)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"STITCH_STORE": f"sqlite:///{tmp_path / 'stitch.db'}"})


@pytest.fixture
async def avito() -> AsyncIterator[FakeAvito]:
    """A local Avito API (chat info, sending), for connectors and webhooks that look customers up."""
    fake = FakeAvito()
    await fake.start()
    yield fake
    await fake.close()
