"""AvitoConnector: messenger webhooks v3 in (secret in the URL path), text messages out."""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from connectors.avito.client import AVITO_API, AvitoClient
from connectors.avito.parse import event_id
from connectors.base import BaseConnector, OutboundReply, SendResult, SendStatus, WebhookRequest
from core.config import Settings
from core.errors import AuthError, ConnectorError, ParseError
from core.values import Channel, Envelope

logger = logging.getLogger("stitch.connectors.avito")


class AvitoConnector(BaseConnector):
    """Our Avito account's messenger.

    Avito documents no way to sign webhooks, so the webhook URL carries a random secret as its last
    path segment (`/webhooks/avito/{secret}`) and `verify` compares it in constant time.
    """

    channel: ClassVar[Channel] = Channel.AVITO

    def __init__(self, client: AvitoClient, *, webhook_secret: str, region: str = "RU") -> None:
        self.client = client
        self._secret = webhook_secret.encode()
        self._region = region

    @classmethod
    def create(
        cls,
        *,
        client_id: str,
        client_secret: str,
        webhook_secret: str,
        api_base: str = AVITO_API,
        region: str = "RU",
    ) -> AvitoConnector:
        client = AvitoClient(client_id=client_id, client_secret=client_secret, base_url=api_base)
        return cls(client, webhook_secret=webhook_secret, region=region)

    @classmethod
    def from_settings(cls, settings: Settings) -> AvitoConnector:
        return cls.create(
            client_id=settings.avito_client_id,
            client_secret=settings.avito_client_secret,
            webhook_secret=settings.avito_webhook_secret,
            api_base=settings.avito_api_base,
            region=settings.default_region,
        )

    # --- inbound --------------------------------------------------------------------------------
    def verify(self, request: WebhookRequest) -> None:
        """Compare the URL's last path segment with the configured secret, in constant time."""
        if not self._secret:
            # An empty secret would make `/webhooks/avito/` open to anyone: refuse instead.
            raise AuthError(self.channel, "webhook secret not configured")
        given = unquote(urlsplit(request.path).path.rstrip("/").rsplit("/", 1)[-1]).encode()
        if not secrets.compare_digest(given, self._secret):
            raise AuthError(self.channel, "webhook secret mismatch")

    def envelope(self, request: WebhookRequest, received_at: datetime) -> Envelope | None:
        """The event, or None for Avito's `{}` subscription probe (answer it 200, store nothing)."""
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
            raise ParseError(self.channel, "body", "not JSON") from e
        if body == {}:
            return None
        if not isinstance(body, dict):
            raise ParseError(self.channel, "body", "not a JSON object")
        payload = body.get("payload")
        value = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(value, dict):
            raise ParseError(self.channel, "payload.value", "missing")
        message_id = value.get("id")
        if not isinstance(message_id, str | int) or isinstance(message_id, bool) or message_id == "":
            raise ParseError(self.channel, "payload.value.id", "missing")
        return Envelope(id=event_id(body, received_at), channel=self.channel, received_at=received_at, payload=body)

    async def enrich(self, envelope: Envelope) -> Envelope:
        """Add the chat info (buyer name, listing) as `lookups["chat"]`; the webhook lacks them.

        Our own echoes and Avito's system messages need no lookup. A failed lookup leaves
        `lookups` as it was: the event is still processed, just without the buyer's name.
        """
        value = _value(envelope.payload)
        if value is None or "chat" in envelope.lookups:
            return envelope
        if value.get("type") == "system" or str(value.get("author_id")) == str(value.get("user_id")):
            return envelope
        chat_id = value.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            return envelope
        try:
            chat = await self.client.get_chat(chat_id)
        except ConnectorError as e:
            logger.warning(
                "avito chat info unavailable",
                extra={"event_id": envelope.id, "status": getattr(e, "status", None)},
            )
            return envelope
        return dataclasses.replace(envelope, lookups={**envelope.lookups, "chat": chat})

    # --- outbound -------------------------------------------------------------------------------
    async def send(self, reply: OutboundReply) -> SendResult:
        """Send the reply (split into ≤1000-character messages); the first message's id names it."""
        sent = await self.client.send_text(reply.chat_id, reply.text)
        first = sent[0]
        created = first.get("created")
        when = datetime.fromtimestamp(created, UTC) if isinstance(created, int | float) else datetime.now(UTC)
        return SendResult(provider_message_id=str(first.get("id", "")), status=SendStatus.SENT, sent_at=when)

    async def subscribe(self, url: str) -> None:
        """Register `url` (which must end in the webhook secret) for messenger webhooks."""
        await self.client.subscribe(url)

    async def close(self) -> None:
        await self.client.close()


def _value(payload: Any) -> dict[str, Any] | None:
    inner = payload.get("payload") if isinstance(payload, Mapping) else None
    if not isinstance(inner, dict) or inner.get("type") != "message":
        return None
    value = inner.get("value")
    return value if isinstance(value, dict) else None
