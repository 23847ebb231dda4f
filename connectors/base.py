"""The connector seam: one class per channel, built from a ready client, closed with `close()`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from core.values import Channel, Envelope, Ignored, Message


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRequest:
    """What a connector needs of an inbound HTTP request, free of the web framework."""

    path: str  # the path and query as received, e.g. "/webhooks/whatsapp?x=1"
    headers: Mapping[str, str]  # case-insensitive lookups are the caller's job: keys lower-cased
    body: bytes
    content_type: str = ""
    form: Mapping[str, str] = field(default_factory=dict)  # decoded form fields, when form-encoded
    remote: str = ""


class SendStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundReply:
    """A manager's reply addressed through one channel account of the person."""

    reply_id: str  # our outbox id; idempotency key where the provider supports one
    channel: Channel
    chat_id: str
    user_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    provider_message_id: str
    status: SendStatus
    sent_at: datetime


class BaseConnector(ABC):
    """A channel: authenticate inbound webhooks, decode them, send replies.

    Parsing itself is a pure function (`parse`) so replay and live webhooks share it.
    """

    channel: ClassVar[Channel]

    @abstractmethod
    def verify(self, request: WebhookRequest) -> None:
        """Raise AuthError unless the request provably comes from the provider."""

    @abstractmethod
    def envelope(self, request: WebhookRequest, received_at: datetime) -> Envelope | None:
        """Decode a verified request into an Envelope; None for a probe that carries no event.

        Raises ParseError for a body that is not the provider's format.
        """

    async def enrich(self, envelope: Envelope) -> Envelope:
        """Fetch what parsing needs from the provider's API (Avito's chat info) into `lookups`."""
        return envelope

    @abstractmethod
    def parse(self, envelope: Envelope) -> Message | Ignored:
        """Normalize the raw payload (pure; shared with replay)."""

    @abstractmethod
    async def send(self, reply: OutboundReply) -> SendResult:
        """Deliver a reply; raises ProviderError (with retry_after) or ChannelUnavailable."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most connectors own a client
        """Release clients and sessions."""
