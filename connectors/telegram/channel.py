"""Telegram's entry in the channel registry."""

from __future__ import annotations

import logging

from connectors.base import BaseConnector, ChannelSpec, WebhookRoute
from connectors.telegram.parse import event_id, parse
from core.config import Settings
from core.values import Channel

log = logging.getLogger("stitch.webhooks")


def build(settings: Settings) -> BaseConnector | None:
    if not settings.telegram_bot_token:
        return None
    from connectors.telegram.bot import TelegramConnector  # aiogram loads only for the live service

    if settings.public_url and not settings.telegram_webhook_secret:
        log.warning("telegram webhook refuses every update: STITCH_TELEGRAM_WEBHOOK_SECRET is not set")
    return TelegramConnector.from_settings(settings)


TELEGRAM = ChannelSpec(
    channel=Channel.TELEGRAM,
    parse=parse,
    event_id=event_id,
    build=build,
    missing="STITCH_TELEGRAM_BOT_TOKEN",
    webhooks=(WebhookRoute(path="/webhooks/telegram"),),
)
