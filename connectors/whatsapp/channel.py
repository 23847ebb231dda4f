"""WhatsApp's (through Twilio) entry in the channel registry."""

from __future__ import annotations

import logging

from connectors.base import BaseConnector, ChannelSpec, WebhookRoute
from connectors.whatsapp.parse import event_id, parse
from core.config import Settings
from core.values import Channel

log = logging.getLogger("stitch.webhooks")

# An empty TwiML document: Twilio sends no automatic reply.
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def build(settings: Settings) -> BaseConnector | None:
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_whatsapp_from):
        return None
    from connectors.whatsapp.twilio import WhatsAppConnector  # twilio loads only for the live service

    if not settings.public_url:
        log.warning("whatsapp webhooks refuse every post: STITCH_PUBLIC_URL is needed to check signatures")
    return WhatsAppConnector.from_settings(settings)


WHATSAPP = ChannelSpec(
    channel=Channel.WHATSAPP,
    parse=parse,
    event_id=event_id,
    build=build,
    missing="STITCH_TWILIO_ACCOUNT_SID, STITCH_TWILIO_AUTH_TOKEN, STITCH_TWILIO_WHATSAPP_FROM",
    webhooks=(
        WebhookRoute(path="/webhooks/whatsapp", ok_body=TWIML_EMPTY, ok_type="text/xml"),
        WebhookRoute(path="/webhooks/whatsapp/status", ok_body=TWIML_EMPTY, ok_type="text/xml"),
    ),
)
