"""Fixtures for the ops tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from ops_support import Running, plant_office_phone, seed_sample, start

from core.config import ResolverSettings, Settings
from store.sqlite import SqliteStore


@pytest.fixture
def ops_settings(tmp_path: Path) -> Settings:
    settings = Settings.from_env({"STITCH_STORE": f"sqlite:///{tmp_path / 'ops.db'}"})
    return replace(settings, resolver=ResolverSettings(max_profiles=4))


@pytest.fixture
async def ops_store(ops_settings: Settings) -> AsyncIterator[SqliteStore]:
    store = SqliteStore.from_url(ops_settings.store_url)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def customer(ops_store: SqliteStore, ops_settings: Settings) -> str:
    return await seed_sample(ops_store, ops_settings)


@pytest.fixture
async def office(ops_store: SqliteStore) -> str:
    return await plant_office_phone(ops_store)


@pytest.fixture
async def running(ops_settings: Settings, ops_store: SqliteStore) -> AsyncIterator[Running]:
    app = await start(ops_settings, ops_store)
    yield app
    await app.stop()
