"""The web form's entry in the channel registry: `POST /forms/{form_id}` from the business's website."""

from __future__ import annotations

from connectors.base import BaseConnector, ChannelSpec, WebhookRoute
from connectors.webform.parse import event_id, parse
from core.config import Settings
from core.values import Channel


def build(settings: Settings) -> BaseConnector | None:
    from connectors.webform.connector import WebFormConnector

    return WebFormConnector.from_settings(settings)  # needs no credentials: always on


WEBFORM = ChannelSpec(
    channel=Channel.WEBFORM,
    parse=parse,
    event_id=event_id,
    build=build,
    webhooks=(
        WebhookRoute(path="/forms/{form_id}", own=True),
        WebhookRoute(path="/forms/{form_id}", method="OPTIONS", own=True),  # the CORS preflight
    ),
)
