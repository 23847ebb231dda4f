"""The channel seam: a `ChannelSpec` per channel (registered in `connectors/registry.py`) and its
`BaseConnector`, built from a ready client and closed with `close()`. See docs/channels.md.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from aiohttp import web

from core.config import Settings
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


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    """A provider's report on one of our replies (Twilio's status callback); `status` None: nothing to do."""

    provider_message_id: str
    status: SendStatus | None
    error_code: str | None = None


Handler = Callable[[Envelope], Awaitable[None]]
# Stores an envelope as pending and queues it (True; False for a repeated delivery); ParseError if unusable.
Accept = Callable[[Envelope], Awaitable[bool]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactQuestion:
    """The polite request for the customer's phone a channel sends once (its settings' text and button)."""

    text: str
    button: str


class BaseConnector(ABC):
    """A live channel: authenticate inbound webhooks, decode them into envelopes, send replies.

    Parsing is not here: it is the channel's pure `ChannelSpec.parse`, which replay uses without
    any connector configured.
    """

    channel: ClassVar[Channel]
    polls: ClassVar[bool] = False  # True: `poll` fetches updates when there is no public URL

    @abstractmethod
    def verify(self, request: WebhookRequest) -> None:
        """Raise AuthError unless the request provably comes from the provider."""

    @abstractmethod
    def envelope(self, request: WebhookRequest, received_at: datetime) -> Envelope | None:
        """Decode a verified request into an Envelope under its final event id (`ChannelSpec.event_id`);
        None for a probe or an update kind that carries nothing to store.

        Raises ParseError for a body that is not the provider's format.
        """

    def delivery_report(self, request: WebhookRequest) -> DeliveryReport | None:
        """A verified request that reports on our own reply instead of carrying a message (None: it does not)."""
        return None

    async def enrich(self, envelope: Envelope) -> Envelope:
        """Fetch what parsing needs from the provider's API (Avito's chat info) into `lookups`."""
        return envelope

    @abstractmethod
    async def send(self, reply: OutboundReply) -> SendResult:
        """Deliver a reply; raises ProviderError (with retry_after) or ChannelUnavailable."""

    async def answer(self, route: WebhookRoute, request: web.Request, accept: Accept) -> web.StreamResponse:
        """Answer a request of one of this channel's `own` routes entirely (the web form)."""
        raise NotImplementedError(f"{self.channel} has no routes of its own")

    def contact_question(self, settings: Settings) -> ContactQuestion | None:
        """The question this channel asks a customer whose person has no phone; None: it never asks."""
        return None

    async def ask_for_contact(self, message: Message, question: ContactQuestion) -> SendResult:
        """Send `question` with a button that shares the phone, answering `message` (channels that ask)."""
        raise NotImplementedError(f"{self.channel} cannot ask for a contact")

    async def poll(self, handle: Handler, stop: asyncio.Event) -> None:
        """Fetch updates until `stop` is set, handing each envelope to `handle` (channels with `polls`)."""
        raise NotImplementedError(f"{self.channel} does not poll")

    async def close(self) -> None:  # noqa: B027 - optional hook, most connectors own a client
        """Release clients and sessions."""


class Parser(Protocol):
    """A channel's pure parser: raw payload → Message | Ignored, or ParseError."""

    def __call__(self, envelope: Envelope, *, region: str = "RU") -> Message | Ignored: ...


EventId = Callable[[Mapping[str, Any], datetime], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRoute:
    """One inbound route of a channel, mounted by `stitch serve` (404 while the channel is not configured)."""

    path: str  # an aiohttp path pattern, e.g. "/webhooks/avito/{secret}"
    method: str = "POST"
    own: bool = False  # the connector answers the request itself (`BaseConnector.answer`)
    auth_status: int = 401  # a failed `verify`; 403 where the path itself is the credential
    ok_body: str = '{"ok": true}'  # what the provider gets for a stored, repeated or ignored delivery
    ok_type: str = "application/json"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSpec:
    """Everything Stitch knows of one channel; `connectors/registry.py` lists them, one line each.

    `parse` and `event_id` are pure and need no credentials (replay, the store's read-back);
    `build` makes the live connector from settings, or None when its credentials are missing
    (`missing` names them in the one start-up log line).
    """

    channel: Channel
    parse: Parser
    event_id: EventId
    build: Callable[[Settings], BaseConnector | None]
    missing: str = ""
    webhooks: tuple[WebhookRoute, ...] = ()
