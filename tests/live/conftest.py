"""Fixtures for the live tests: the provider fakes and the app pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from live_support import Live, live_env, start_live

from connectors.avito.fake import FakeAvito
from connectors.max.fake import FakeMax
from connectors.telegram.fake import FakeTelegram
from connectors.whatsapp.fake import FakeTwilio
from core.config import Settings


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram("42:TEST")
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def max_bot() -> AsyncIterator[FakeMax]:
    fake = FakeMax()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def live_settings(
    tmp_path: Path, telegram: FakeTelegram, twilio: FakeTwilio, avito: FakeAvito, max_bot: FakeMax
) -> Settings:
    return Settings.from_env(live_env(tmp_path, telegram, twilio, avito, max_bot))


@pytest.fixture
async def live(live_settings: Settings) -> AsyncIterator[Live]:
    running = await start_live(live_settings)
    yield running
    await running.stop()


@pytest.fixture
async def quiet_live(live_settings: Settings) -> AsyncIterator[Live]:
    """The app with the contact question turned off (tests about something else)."""
    running = await start_live(replace(live_settings, telegram_ask_contact="", max_ask_contact=""))
    yield running
    await running.stop()
