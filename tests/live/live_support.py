"""Helpers for the live tests: the real aiohttp app on a loopback port, channels pointed at fakes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from app.keys import PROCESSOR, STORE
from app.web import create_app
from app.webhooks import CONTACT_ASKER, OUTBOX
from connectors.avito.fake import FakeAvito
from connectors.max.fake import FakeMax
from connectors.telegram.fake import FakeTelegram
from connectors.whatsapp.fake import FakeTwilio
from core.config import Settings
from store.base import BaseStore

PUBLIC = "https://stitch.example.com"  # what Twilio signs; the app itself listens on loopback
TG_SECRET = "tg-webhook-secret"
AVITO_SECRET = "avito-path-secret"
MAX_SECRET = "max-webhook-secret"
BUSINESS = "+14155238886"


class RecordingSleep:
    """Records backoff pauses instead of taking them."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.pauses.append(delay)


@dataclass(slots=True)
class Live:
    app: web.Application
    runner: web.AppRunner
    base: str
    settings: Settings
    sleep: RecordingSleep

    @property
    def store(self) -> BaseStore:
        return self.app[STORE]

    def url(self, path: str) -> str:
        return self.base + path

    async def settle(self) -> None:
        """Wait until accepted events are resolved and questions to customers are sent."""
        await self.app[PROCESSOR].idle()
        await self.app[CONTACT_ASKER].idle()

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_live(settings: Settings) -> Live:
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    sleep = RecordingSleep()
    app[OUTBOX].sleep = sleep  # retries are real, their pauses are recorded
    return Live(app=app, runner=runner, base=f"http://{host}:{port}", settings=settings, sleep=sleep)


def live_env(
    tmp: Path, telegram: FakeTelegram, twilio: FakeTwilio, avito: FakeAvito, max_bot: FakeMax | None = None
) -> dict[str, str]:
    """Settings for every channel, pointed at the fakes (MAX when its fake is given)."""
    env = {
        "STITCH_STORE": f"sqlite:///{tmp / 'live.db'}",
        "STITCH_PUBLIC_URL": PUBLIC,
        "STITCH_TELEGRAM_BOT_TOKEN": telegram.token,
        "STITCH_TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "STITCH_TELEGRAM_API_BASE": telegram.base_url,
        "STITCH_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "STITCH_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "STITCH_TWILIO_WHATSAPP_FROM": BUSINESS,
        "STITCH_TWILIO_API_BASE": twilio.base_url,
        "STITCH_AVITO_CLIENT_ID": avito.client_id,
        "STITCH_AVITO_CLIENT_SECRET": avito.client_secret,
        "STITCH_AVITO_WEBHOOK_SECRET": AVITO_SECRET,
        "STITCH_AVITO_API_BASE": avito.base_url,
        "STITCH_OUTBOX_ATTEMPTS": "3",
    }
    if max_bot is not None:
        env["STITCH_MAX_BOT_TOKEN"] = max_bot.token
        env["STITCH_MAX_WEBHOOK_SECRET"] = MAX_SECRET
        env["STITCH_MAX_API_BASE"] = max_bot.base_url
    return env


async def person_of(live: Live, profile_key: str) -> str | None:
    return await live.store.person_of_profile(profile_key)


async def message_count(live: Live) -> int:
    return (await live.store.counts())["messages"]
