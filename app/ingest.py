"""The ingest pipeline shared by live webhooks and replay: parse -> store -> resolve -> lead.

Live webhooks `accept` (store the raw event, answer the provider) and `process` later; replay
`ingest`s both at once. Either way each event's effects commit as one unit, so a crash leaves the
event pending (processed again at start-up) or fully done, never half.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum

from connectors.parsers import parse_envelope
from core.config import Settings
from core.records import Direction, EventStatus, MergeRecord, StoredMessage, Suggestion
from core.values import Envelope, Ignored, Message
from crm.leads import LeadBook
from resolver.merge import Merger, ids_from
from resolver.service import Resolver
from store.base import BaseStore

log = logging.getLogger("stitch.ingest")


class Outcome(StrEnum):
    INGESTED = "ingested"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    outcome: Outcome
    event_id: str
    person_id: str = ""
    lead_id: str = ""
    new_person: bool = False
    merges: tuple[MergeRecord, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    reason: str = ""
    message: Message | None = field(default=None, repr=False)
    channel: str = ""  # the event's channel, for metrics
    elapsed_s: float = 0.0  # time spent resolving (locks, resolver, lead, commit), for metrics


Observer = Callable[[IngestResult], Awaitable[None]]
# Runs inside the event's unit of work, after its effects: whatever it stores commits with them
# (the CRM push queue). An effect that raises rolls the event back.
Effect = Callable[[IngestResult], Awaitable[None]]


class Pipeline:
    """Wires resolver, merger and lead book over one store."""

    def __init__(self, store: BaseStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.leads = LeadBook(store, legacy=settings.inbox.legacy_leads)
        self.merger = Merger(store, [self.leads])
        self.resolver = Resolver(store, self.merger, settings.resolver)
        self.observers: list[Observer] = []
        self.effects: list[Effect] = []

    def parse(self, envelope: Envelope) -> Message | Ignored:
        """Raises ParseError for a payload the channel's parser cannot use."""
        return parse_envelope(envelope, region=self.settings.default_region)

    async def accept(self, envelope: Envelope) -> bool:
        """Validate and store a raw event as pending; False for a repeated delivery."""
        self.parse(envelope)
        async with self.store.atomic():
            return await self.store.add_event(envelope)

    async def ingest(self, envelope: Envelope) -> IngestResult:
        """Validate, store and resolve one event as one unit (replay)."""
        parsed = self.parse(envelope)
        started = time.perf_counter()
        async with self._unit(parsed):
            if not await self.store.add_event(envelope):
                return IngestResult(outcome=Outcome.DUPLICATE, event_id=envelope.id, channel=envelope.channel.value)
            result = await self._resolve(envelope, parsed)
        result = replace(result, channel=envelope.channel.value, elapsed_s=time.perf_counter() - started)
        await self.notify(result)
        return result

    def _unit(self, parsed: Message | Ignored) -> AbstractAsyncContextManager[None]:
        """One event's unit of work: its resolution keys locked, its effects atomic."""
        keys = self.resolver.lock_keys(parsed) if isinstance(parsed, Message) else [parsed.event_id]
        return _locked_atomic(self.store, keys)

    async def process(self, event_id: str, *, notify: bool = True) -> IngestResult:
        """Resolve an event stored by `accept` (idempotent: a done event is reported as duplicate).

        With `notify=False` the caller tells the observers (`notify`) once the unit has committed:
        a caller resolving several events in one enclosing transaction.
        """
        envelope = await self.store.get_event(event_id)
        if envelope is None or await self.store.event_status(event_id) is not EventStatus.PENDING:
            return IngestResult(outcome=Outcome.DUPLICATE, event_id=event_id)
        parsed = self.parse(envelope)
        started = time.perf_counter()
        async with self._unit(parsed):
            result = await self._resolve(envelope, parsed)
        result = replace(result, channel=envelope.channel.value, elapsed_s=time.perf_counter() - started)
        if notify:
            await self.notify(result)
        return result

    async def drain_pending(self, batch: int = 500) -> int:
        """Resolve events left pending by a crash or a restart; returns how many."""
        done = 0
        while pending := await self.store.pending_events(batch):
            for envelope in pending:
                await self.process(envelope.id)
                done += 1
        return done

    async def _resolve(self, envelope: Envelope, parsed: Message | Ignored) -> IngestResult:
        """Resolve one stored event; the caller holds its unit of work (`_unit`)."""
        store = self.store
        if isinstance(parsed, Ignored):
            await store.finish_event(envelope.id, EventStatus.IGNORED, parsed.reason)
            return IngestResult(outcome=Outcome.IGNORED, event_id=envelope.id, reason=parsed.reason)
        message = parsed
        if await store.message_seen(message.channel, message.provider_message_id):
            await store.finish_event(envelope.id, EventStatus.IGNORED, "repeated delivery")
            return IngestResult(outcome=Outcome.DUPLICATE, event_id=envelope.id, reason="repeated delivery")
        with ids_from(envelope.id):
            resolution = await self.resolver.resolve(message)
            lead = await self.leads.on_message(resolution, message)
        await store.add_message(
            StoredMessage(
                event_id=envelope.id,
                channel=message.channel,
                provider_message_id=message.provider_message_id,
                profile_key=message.profile_key,
                lead_id=lead.lead_id,
                sent_at=message.sent_at,
                direction=Direction.IN,
                text=message.text,
                meta=message.meta,
            )
        )
        await store.finish_event(envelope.id, EventStatus.DONE)
        result = IngestResult(
            outcome=Outcome.INGESTED,
            event_id=envelope.id,
            person_id=resolution.person_id,
            lead_id=lead.lead_id,
            new_person=resolution.new_person,
            merges=tuple(resolution.merges),
            suggestions=tuple(resolution.suggestions),
            message=message,
        )
        for effect in self.effects:
            await effect(result)
        return result

    async def notify(self, result: IngestResult) -> None:
        """Tell every observer about a committed result; an observer's failure is logged, not raised."""
        for observer in self.observers:
            try:
                await observer(result)
            except Exception:  # an observer (live feed, CRM push) must never undo an ingest
                log.exception("observer failed", extra={"event_id": result.event_id})


@asynccontextmanager
async def _locked_atomic(store: BaseStore, keys: list[str]) -> AsyncIterator[None]:
    # Lock before the transaction: a worker waiting for a key must not hold a transaction open.
    async with store.lock(keys), store.atomic():
        yield
