"""Shared fixtures: real stores (a temporary SQLite file; the Redis on 127.0.0.1:6379)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.config import Settings
from store.base import BaseStore
from store.sqlite import SqliteStore

BACKENDS = ["sqlite"]


async def make_store(kind: str, tmp_path: Path) -> BaseStore:
    if kind == "sqlite":
        store: BaseStore = SqliteStore(tmp_path / "stitch.db")
    else:  # pragma: no cover - filled in by the Redis backend
        raise ValueError(kind)
    await store.open()
    return store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BaseStore]:
    s = await make_store(request.param, tmp_path)
    yield s
    await s.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "stitch.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"STITCH_STORE": f"sqlite:///{tmp_path / 'stitch.db'}"})
