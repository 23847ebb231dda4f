"""Avito's entry in the channel registry."""

from __future__ import annotations

from connectors.avito.parse import event_id, parse
from connectors.base import BaseConnector, ChannelSpec, WebhookRoute
from core.config import Settings
from core.values import Channel


def build(settings: Settings) -> BaseConnector | None:
    if not (settings.avito_client_id and settings.avito_client_secret and settings.avito_webhook_secret):
        return None
    from connectors.avito.connector import AvitoConnector

    return AvitoConnector.from_settings(settings)


AVITO = ChannelSpec(
    channel=Channel.AVITO,
    parse=parse,
    event_id=event_id,
    build=build,
    missing="STITCH_AVITO_CLIENT_ID, STITCH_AVITO_CLIENT_SECRET, STITCH_AVITO_WEBHOOK_SECRET",
    # A wrong secret is a wrong URL: 403 (the path is the credential).
    webhooks=(WebhookRoute(path="/webhooks/avito/{secret}", auth_status=403),),
)
