"""MaxConnector: a MAX bot. Webhook Updates (or long polling) in, `POST /messages?user_id=…` out.

Point it at a local fake with `api_base` (`connectors.max.fake.FakeMax`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.base import (
    BaseConnector,
    ContactQuestion,
    OutboundReply,
    SendResult,
    SendStatus,
    WebhookRequest,
)
from connectors.max.client import MaxClient
from connectors.max.parse import MESSAGE_CREATED, event_id
from connectors.retry import backoff_delay
from core.config import MAX_API, Settings
from core.errors import AuthError, ChannelUnavailable, ParseError, ProviderError
from core.values import Channel, Envelope, Message

logger = logging.getLogger("stitch.connectors.max")

SECRET_HEADER = "x-max-bot-api-secret"  # WebhookRequest header keys are lower-cased
POLL_TIMEOUT_S = 25  # GET /updates long-poll (MAX allows up to 90); under common 30 s proxy idle limits
POLL_BACKOFF_BASE_S = 1.0
POLL_BACKOFF_MAX_S = 60.0
CONTACT_BUTTON = "Share my phone number"

Handler = Callable[[Envelope], Awaitable[None]]


class MaxConnector(BaseConnector):
    """One MAX bot, built from a ready `MaxClient` (closed by `close()`)."""

    channel: ClassVar[Channel] = Channel.MAX
    polls: ClassVar[bool] = True

    def __init__(self, client: MaxClient, *, webhook_secret: str = "", region: str = "RU") -> None:
        self.client = client
        self._webhook_secret = webhook_secret
        self._region = region

    @classmethod
    def create(
        cls, token: str, *, api_base: str = MAX_API, webhook_secret: str = "", region: str = "RU"
    ) -> MaxConnector:
        return cls(MaxClient(token, base_url=api_base), webhook_secret=webhook_secret, region=region)

    @classmethod
    def from_settings(cls, settings: Settings) -> MaxConnector:
        return cls.create(
            settings.max_bot_token,
            api_base=settings.max_api_base,
            webhook_secret=settings.max_webhook_secret,
            region=settings.default_region,
        )

    # --- inbound --------------------------------------------------------------------------------
    def verify(self, request: WebhookRequest) -> None:
        """Compare X-Max-Bot-Api-Secret with the secret given to `POST /subscriptions`, in constant time."""
        if not self._webhook_secret:
            # Without a configured secret anyone could post updates: refuse rather than trust.
            raise AuthError(self.channel, "webhook secret not configured")
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            raise AuthError(self.channel, "missing secret header")
        if not secrets.compare_digest(given.encode(), self._webhook_secret.encode()):
            raise AuthError(self.channel, "secret mismatch")

    def envelope(self, request: WebhookRequest, received_at: datetime) -> Envelope | None:
        """The event, or None for an update type Stitch does not store (answered 200)."""
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
            raise ParseError(self.channel, "body", "not JSON") from e
        return self.from_update(payload, received_at)

    def from_update(self, payload: Any, received_at: datetime) -> Envelope | None:
        """An Update (webhook body or long-poll item) as an Envelope under its final event id."""
        if not isinstance(payload, dict):
            raise ParseError(self.channel, "body", "not a JSON object")
        update_type = payload.get("update_type")
        if not isinstance(update_type, str) or not update_type:
            raise ParseError(self.channel, "update_type", "missing or not a string")
        if update_type != MESSAGE_CREATED:
            return None
        return Envelope(
            id=event_id(payload, received_at), channel=self.channel, received_at=received_at, payload=payload
        )

    # --- outbound -------------------------------------------------------------------------------
    async def send(self, reply: OutboundReply) -> SendResult:
        """One reply to the customer's dialog; retrying is the caller's policy (`with_retries`)."""
        return await self._send(reply.user_id, reply.text)

    def contact_question(self, settings: Settings) -> ContactQuestion | None:
        """STITCH_MAX_ASK_CONTACT (empty: never ask) with its button."""
        if not settings.max_ask_contact:
            return None
        return ContactQuestion(text=settings.max_ask_contact, button=settings.max_contact_button)

    async def ask_for_contact(self, message: Message, question: ContactQuestion) -> SendResult:
        # MAX addresses a dialog by the user's id (`POST /messages?user_id=`).
        return await self.ask_contact(message.user_id, question.text, button=question.button)

    async def ask_contact(self, user_id: str, text: str, *, button: str = CONTACT_BUTTON) -> SendResult:
        """Send `text` with an inline keyboard whose `request_contact` button shares the customer's phone.

        MAX then delivers a `contact` attachment: a phone number the channel itself vouches for.
        """
        keyboard = {"type": "inline_keyboard", "payload": {"buttons": [[{"type": "request_contact", "text": button}]]}}
        return await self._send(user_id, text, [keyboard])

    async def _send(self, user_id: str, text: str, attachments: list[dict[str, Any]] | None = None) -> SendResult:
        try:
            sent = await self.client.send_message(user_id, text, attachments=attachments or ())
        except ProviderError as e:
            if e.status == 403:
                # MAX answers 403 when the user blocked the bot or the dialog is closed to it.
                raise ChannelUnavailable(self.channel, "the customer blocked the bot or left the chat") from e
            raise
        first = sent[0] if sent else {}
        body = first.get("body")
        mid = body.get("mid") if isinstance(body, dict) else None
        stamp = first.get("timestamp")
        when = datetime.fromtimestamp(stamp / 1000, UTC) if isinstance(stamp, int | float) else datetime.now(UTC)
        return SendResult(provider_message_id=str(mid or ""), status=SendStatus.SENT, sent_at=when)

    # --- subscription and long polling ----------------------------------------------------------
    async def subscribe(self, url: str, secret: str) -> None:
        """Ask MAX to POST Updates to `url` with `secret` (long polling stops working meanwhile)."""
        await self.client.subscribe(url, secret)

    async def unsubscribe(self, url: str) -> None:
        await self.client.unsubscribe(url)

    async def poll(
        self,
        handle: Handler,
        stop: asyncio.Event,
        *,
        timeout: int = POLL_TIMEOUT_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Long-poll `GET /updates` until `stop` is set, handing each message update to `handle` in order.

        The marker moves past a batch only after `handle` returned for all of it, so updates whose
        handler raised come again on the next run (the exception ends polling). Transient provider
        failures back off and continue; a rejected token ends polling.
        """
        await self.client.me()
        marker: int | None = None
        failures = 0
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                fetch = asyncio.ensure_future(self.client.updates(marker=marker, timeout=timeout))
                await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    await asyncio.gather(fetch, return_exceptions=True)
                    break
                try:
                    updates, next_marker = fetch.result()
                except ProviderError as e:
                    if not e.retryable:
                        raise
                    failures += 1
                    logger.warning("GET /updates failed", extra={"status": e.status, "failures": failures})
                    delay = e.retry_after or backoff_delay(
                        failures, base_delay=POLL_BACKOFF_BASE_S, max_delay=POLL_BACKOFF_MAX_S
                    )
                    # Never longer than the backoff cap, and a stop ends the pause at once.
                    pause = asyncio.ensure_future(sleep(min(delay, POLL_BACKOFF_MAX_S)))
                    await asyncio.wait({pause, stopped}, return_when=asyncio.FIRST_COMPLETED)
                    if not pause.done():
                        pause.cancel()
                        await asyncio.gather(pause, return_exceptions=True)
                    continue
                failures = 0
                for update in updates:
                    try:
                        envelope = self.from_update(update, datetime.now(UTC))
                    except ParseError as e:
                        # One malformed update must not stall the queue behind it.
                        logger.warning("skipped a malformed update", extra={"field": e.field, "reason": e.reason})
                        continue
                    if envelope is not None:
                        await handle(envelope)
                marker = next_marker
        finally:
            stopped.cancel()
            await asyncio.gather(stopped, return_exceptions=True)

    async def close(self) -> None:
        await self.client.close()
