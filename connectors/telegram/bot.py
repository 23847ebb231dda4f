"""TelegramConnector: webhooks or long polling in, `sendMessage` out, through a real aiogram `Bot`.

Point it at a local fake with `api_base` (aiogram's `TelegramAPIServer.from_base`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import KeyboardButton, ReplyKeyboardMarkup, Update

from connectors.base import (
    BaseConnector,
    ContactQuestion,
    OutboundReply,
    SendResult,
    SendStatus,
    WebhookRequest,
)
from connectors.retry import backoff_delay
from connectors.telegram.parse import event_id
from core.config import Settings
from core.errors import AuthError, ChannelUnavailable, ParseError, ProviderError
from core.values import Channel, Envelope, Message

logger = logging.getLogger("stitch.connectors.telegram")

TELEGRAM_API = "https://api.telegram.org"
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # WebhookRequest header keys are lower-cased
POLL_TIMEOUT_S = 25  # getUpdates long-poll; under common 30 s proxy idle limits
POLL_BACKOFF_BASE_S = 1.0
POLL_BACKOFF_MAX_S = 60.0
NETWORK_STATUS = 503  # what a transport failure counts as: retryable, like a 5xx
CONTACT_BUTTON = "Share my phone number"

Handler = Callable[[Envelope], Awaitable[None]]


class TelegramConnector(BaseConnector):
    """One Telegram bot.

    Built from a ready aiogram `Bot` (its session is closed by `close()`); `create()` and
    `from_settings()` build one for a token and an API base URL.
    """

    channel: ClassVar[Channel] = Channel.TELEGRAM
    polls: ClassVar[bool] = True

    def __init__(self, bot: Bot, *, webhook_secret: str = "", region: str = "RU") -> None:
        self.bot = bot
        self._webhook_secret = webhook_secret
        self._region = region

    @classmethod
    def create(
        cls, token: str, *, api_base: str = TELEGRAM_API, webhook_secret: str = "", region: str = "RU"
    ) -> TelegramConnector:
        """Build a Bot for `token` talking to `api_base` (the real API or a local fake)."""
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
        return cls(Bot(token, session=session), webhook_secret=webhook_secret, region=region)

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramConnector:
        return cls.create(
            settings.telegram_bot_token,
            api_base=settings.telegram_api_base,
            webhook_secret=settings.telegram_webhook_secret,
            region=settings.default_region,
        )

    # --- inbound --------------------------------------------------------------------------------
    def verify(self, request: WebhookRequest) -> None:
        """Check the secret Telegram echoes from setWebhook, in constant time."""
        if not self._webhook_secret:
            # Without a configured secret anyone could post updates: refuse rather than trust.
            raise AuthError(self.channel, "webhook secret not configured")
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            raise AuthError(self.channel, "missing secret token header")
        if not secrets.compare_digest(given.encode(), self._webhook_secret.encode()):
            raise AuthError(self.channel, "secret token mismatch")

    def envelope(self, request: WebhookRequest, received_at: datetime) -> Envelope:
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
            raise ParseError(self.channel, "body", "not JSON") from e
        return self._envelope(payload, received_at)

    def _envelope(self, payload: Any, received_at: datetime) -> Envelope:
        if not isinstance(payload, dict):
            raise ParseError(self.channel, "body", "not a JSON object")
        update_id = payload.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise ParseError(self.channel, "update_id", "missing or not an integer")
        return Envelope(
            id=event_id(payload, received_at), channel=self.channel, received_at=received_at, payload=payload
        )

    # --- outbound -------------------------------------------------------------------------------
    async def send(self, reply: OutboundReply) -> SendResult:
        """One sendMessage; retrying is the caller's policy (`connectors.retry.with_retries`)."""
        return await self._send(reply.chat_id, reply.text)

    def contact_question(self, settings: Settings) -> ContactQuestion | None:
        """STITCH_TELEGRAM_ASK_CONTACT (empty: never ask) with its button."""
        if not settings.telegram_ask_contact:
            return None
        return ContactQuestion(text=settings.telegram_ask_contact, button=settings.telegram_contact_button)

    async def ask_for_contact(self, message: Message, question: ContactQuestion) -> SendResult:
        return await self.ask_contact(message.chat_id, question.text, button=question.button)

    async def ask_contact(self, chat_id: str, text: str, *, button: str = CONTACT_BUTTON) -> SendResult:
        """Send `text` with a one-time keyboard whose button shares the customer's phone number.

        Telegram then delivers `message.contact`, a phone number the channel itself vouches for.
        """
        markup = ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=button, request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
        return await self._send(chat_id, text, markup)

    async def _send(self, chat_id: str, text: str, markup: ReplyKeyboardMarkup | None = None) -> SendResult:
        target: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        try:
            sent = await self.bot.send_message(chat_id=target, text=text, reply_markup=markup)
        except TelegramAPIError as e:
            raise self._error(e) from e
        return SendResult(provider_message_id=str(sent.message_id), status=SendStatus.SENT, sent_at=_utc(sent.date))

    def _error(self, e: TelegramAPIError) -> Exception:
        """Map aiogram's exception tree onto ours; order matters (subclasses first)."""
        if isinstance(e, TelegramForbiddenError):
            return ChannelUnavailable(self.channel, "the customer blocked the bot or left the chat")
        if isinstance(e, TelegramRetryAfter):
            return ProviderError(self.channel, "flood control", status=429, retry_after=float(e.retry_after))
        if isinstance(e, TelegramServerError):
            return ProviderError(self.channel, "server error", status=500)
        if isinstance(e, TelegramNetworkError):
            return ProviderError(self.channel, "network error", status=NETWORK_STATUS)
        if isinstance(e, TelegramUnauthorizedError):
            return ProviderError(self.channel, "bot token rejected", status=401)
        if isinstance(e, TelegramConflictError):
            return ProviderError(self.channel, "conflict", status=409)
        # Bad request, not found, chat migrated: a retry would fail the same way.
        return ProviderError(self.channel, type(e).__name__, status=400)

    # --- webhook registration and long polling --------------------------------------------------
    async def set_webhook(self, url: str, secret: str) -> None:
        """Ask Telegram to POST updates to `url` with `secret` in the secret-token header."""
        try:
            await self.bot.set_webhook(url=url, secret_token=secret)
        except TelegramAPIError as e:
            raise self._error(e) from e

    async def delete_webhook(self) -> None:
        """Stop webhook delivery (long polling is refused while a webhook is set)."""
        try:
            await self.bot.delete_webhook()
        except TelegramAPIError as e:
            raise self._error(e) from e

    async def poll(
        self,
        handle: Handler,
        stop: asyncio.Event,
        *,
        timeout: int = POLL_TIMEOUT_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Long-poll getUpdates until `stop` is set, handing each update to `handle` in order.

        The offset moves past an update only after `handle` returned, so an update whose handler
        raised is delivered again on the next run (the exception ends polling). Transient provider
        failures back off and continue; a set webhook (409) or a rejected token end polling.
        """
        await self.bot.get_me()
        offset: int | None = None
        failures = 0
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                fetch = asyncio.ensure_future(
                    self.bot.get_updates(offset=offset, timeout=timeout, request_timeout=timeout + POLL_TIMEOUT_S)
                )
                await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    await asyncio.gather(fetch, return_exceptions=True)
                    break
                try:
                    updates = fetch.result()
                except TelegramAPIError as e:
                    err = self._error(e)
                    if isinstance(e, TelegramConflictError):
                        raise ChannelUnavailable(self.channel, "a webhook is set; delete it to poll") from e
                    if not (isinstance(err, ProviderError) and err.retryable):
                        raise err from e
                    failures += 1
                    logger.warning("getUpdates failed", extra={"status": err.status, "failures": failures})
                    pause = err.retry_after or backoff_delay(
                        failures, base_delay=POLL_BACKOFF_BASE_S, max_delay=POLL_BACKOFF_MAX_S
                    )
                    await sleep(pause)
                    continue
                failures = 0
                for update in updates:
                    await handle(self._from_update(update))
                    offset = update.update_id + 1
        finally:
            stopped.cancel()
            await asyncio.gather(stopped, return_exceptions=True)

    def _from_update(self, update: Update) -> Envelope:
        # Back to the wire shape (aliases like "from", unix dates) so replay and webhooks agree.
        payload = update.model_dump(mode="json", exclude_none=True, by_alias=True)
        return self._envelope(payload, datetime.now(UTC))

    async def close(self) -> None:
        await self.bot.session.close()


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
