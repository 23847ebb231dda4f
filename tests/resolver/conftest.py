from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.ingest import Pipeline
from core.config import Settings
from store.base import BaseStore


@pytest.fixture
async def pipeline(store: BaseStore, settings: Settings) -> AsyncIterator[Pipeline]:
    yield Pipeline(store, settings)
