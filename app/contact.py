"""Asking a Telegram customer, once, to share their phone number.

A Telegram user is only an id and a name; a phone number links their chats on WhatsApp, Avito and
the web form. When a Telegram customer's person has no phone yet, the bot sends a short, polite,
configurable question (STITCH_TELEGRAM_ASK_CONTACT; empty turns it off) with a `request_contact`
reply keyboard. The shared contact arrives as an ordinary update that the parser and the resolver
already link by phone. Each profile is asked at most once, remembered in the store, so several
workers or a restart never ask again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from app.ingest import IngestResult, Outcome
from connectors.base import BaseConnector
from connectors.telegram.bot import TelegramConnector
from core.config import Settings
from core.errors import ConnectorError
from core.values import Channel, IdKind, Provenance
from store.base import BaseStore

log = logging.getLogger("stitch.contact")


class ContactAsker:
    """A pipeline observer that asks for the phone in a background task (resolution never waits)."""

    def __init__(self, store: BaseStore, telegram: BaseConnector | None, settings: Settings) -> None:
        self.store = store
        self.telegram = telegram if isinstance(telegram, TelegramConnector) else None
        self.text = settings.telegram_ask_contact
        self.button = settings.telegram_contact_button
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def observe(self, result: IngestResult) -> None:
        message = result.message
        if (
            self._closed
            or self.telegram is None
            or not self.text
            or result.outcome is not Outcome.INGESTED
            or message is None
            or message.channel is not Channel.TELEGRAM
            or any(i.kind is IdKind.PHONE for i in message.identifiers)
        ):
            return
        task = asyncio.create_task(self._ask(result.person_id, message.profile_key, message.chat_id, message.sent_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ask(self, person_id: str, profile_key: str, chat_id: str, at: datetime) -> None:
        assert self.telegram is not None
        try:
            if await self._has_phone(person_id):
                return
            async with self.store.atomic():
                first = await self.store.mark_contact_asked(profile_key, at)
            if not first:
                return
            # Marked before sending: at most one question, even if this send fails.
            await self.telegram.ask_contact(chat_id, self.text, button=self.button)
            log.info("asked for contact", extra={"profile": profile_key})
        except ConnectorError as e:
            log.warning("asking for contact failed", extra={"profile": profile_key, "reason": e.reason})
        except Exception:
            log.exception("asking for contact failed", extra={"profile": profile_key})

    async def _has_phone(self, person_id: str) -> bool:
        root = await self.store.root_of(person_id)
        keys = [p.key for p in await self.store.profiles_of(root)]
        found = await self.store.identifiers_of(keys)
        # Only a number the customer gave us counts; one merely mentioned in a message may be anyone's.
        return any(
            i.kind is IdKind.PHONE and i.provenance is not Provenance.MENTIONED for ids in found.values() for i in ids
        )

    async def idle(self) -> None:
        """Wait for questions in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        await self.idle()
