"""MAX's entry in the channel registry."""

from __future__ import annotations

import logging

from connectors.base import BaseConnector, ChannelSpec, WebhookRoute
from connectors.max.parse import event_id, parse
from core.config import Settings
from core.values import Channel

log = logging.getLogger("stitch.webhooks")


def build(settings: Settings) -> BaseConnector | None:
    if not settings.max_bot_token:
        return None
    from connectors.max.connector import MaxConnector

    if settings.public_url and not settings.max_webhook_secret:
        log.warning("max webhook refuses every update: STITCH_MAX_WEBHOOK_SECRET is not set")
    return MaxConnector.from_settings(settings)


MAX = ChannelSpec(
    channel=Channel.MAX,
    parse=parse,
    event_id=event_id,
    build=build,
    missing="STITCH_MAX_BOT_TOKEN",
    webhooks=(WebhookRoute(path="/webhooks/max"),),
)
