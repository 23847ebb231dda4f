"""Asking a Telegram or MAX customer, once, to share their phone number.

A Telegram or MAX user is only an id and a name; a phone number links their chats on WhatsApp, Avito
and the web form. When such a customer's person has no phone yet, the bot sends a short, polite,
configurable question (STITCH_TELEGRAM_ASK_CONTACT, STITCH_MAX_ASK_CONTACT; empty turns it off) with a
`request_contact` button (Telegram: a reply keyboard; MAX: an inline keyboard). The shared contact
arrives as an ordinary update that the parser and the resolver already link by phone. Each profile is
asked at most once, remembered in the store, so several workers or a restart never ask again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from app.ingest import IngestResult, Outcome
from connectors.base import BaseConnector, ContactQuestion
from core.config import Settings
from core.errors import ConnectorError
from core.values import Channel, IdKind, Message, Provenance
from store.base import BaseStore

log = logging.getLogger("stitch.contact")


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """How one channel asks: its connector and its question."""

    connector: BaseConnector
    question: ContactQuestion


def questions(connectors: Mapping[Channel, BaseConnector], settings: Settings) -> dict[Channel, Question]:
    """The channels configured here that ask (`BaseConnector.contact_question`), with their question."""
    found: dict[Channel, Question] = {}
    for channel, connector in connectors.items():
        question = connector.contact_question(settings)
        if question is not None:
            found[channel] = Question(connector=connector, question=question)
    return found


class ContactAsker:
    """A pipeline observer that asks for the phone in a background task (resolution never waits)."""

    def __init__(self, store: BaseStore, questions: Mapping[Channel, Question]) -> None:
        self.store = store
        self.questions = dict(questions)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def observe(self, result: IngestResult) -> None:
        message = result.message
        if (
            self._closed
            or result.outcome is not Outcome.INGESTED
            or message is None
            or message.channel not in self.questions
            or any(i.kind is IdKind.PHONE for i in message.identifiers)
        ):
            return
        question = self.questions[message.channel]
        task = asyncio.create_task(self._ask(question, result.person_id, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ask(self, question: Question, person_id: str, message: Message) -> None:
        profile_key = message.profile_key
        try:
            if await self._has_phone(person_id):
                return
            async with self.store.atomic():
                first = await self.store.mark_contact_asked(profile_key, message.sent_at)
            if not first:
                return
            # Marked before sending: at most one question, even if this send fails.
            await question.connector.ask_for_contact(message, question.question)
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
