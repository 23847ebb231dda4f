"""The ingest pipeline shared by live webhooks and replay: parse -> store -> resolve -> lead.

Live webhooks `accept` (store the raw event, answer the provider) and `process` later; replay
`ingest`s both at once. Either way each event's effects commit as one unit, so a crash leaves the
event pending (processed again at start-up) or fully done, never half.

An event whose resolution raises (a poison event) is tried `max_attempts` times in all, then parked:
stored as failed with the error's one-line summary, out of the pending backlog, until an operator
retries it (`settle`, `ingest_or_park`). An outage of the store is not the event's fault: it
propagates, and the event stays pending.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum

from connectors.parsers import parse_envelope
from core.config import Settings
from core.errors import InputError
from core.loggers import scrub
from core.records import Direction, EventStatus, MergeRecord, StoredMessage, Suggestion
from core.values import Envelope, Ignored, Message
from crm.leads import LeadBook
from resolver.merge import Merger, ids_from
from resolver.service import Resolver
from store.base import BaseStore

log = logging.getLogger("stitch.ingest")

# Accepted events whose parsed message waits in memory for `process` (in-process queue only).
PARSED_KEPT = 10_000


class Outcome(StrEnum):
    INGESTED = "ingested"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    PARKED = "parked"  # resolution kept raising: stored as failed with the reason


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
        self.max_attempts = settings.max_attempts
        # True when this process resolves what it accepts: `accept` hands its parse to `process`,
        # so a webhook body is parsed once. Workers elsewhere (Redis streams) parse the stored event.
        self.keep_parsed = False
        self._parsed: OrderedDict[str, Message | Ignored] = OrderedDict()

    def parse(self, envelope: Envelope) -> Message | Ignored:
        """Raises ParseError for a payload the channel's parser cannot use."""
        return parse_envelope(envelope, region=self.settings.default_region)

    def parse_ahead(self, envelope: Envelope) -> Message | Ignored | None:
        """Parse a stored event before `process` resolves it, which then uses this parse; None when the
        payload does not parse (`process` meets the same error again and handles it)."""
        try:
            parsed = self.parse(envelope)
        except InputError:
            return None
        self._parsed[envelope.id] = parsed
        while len(self._parsed) > PARSED_KEPT:
            self._parsed.popitem(last=False)
        return parsed

    async def accept(self, envelope: Envelope) -> bool:
        """Validate and store a raw event as pending; False for a repeated delivery."""
        parsed = self.parse(envelope)
        async with self.store.atomic():
            fresh = await self.store.add_event(envelope)
        if fresh and self.keep_parsed:
            self._parsed[envelope.id] = parsed
            while len(self._parsed) > PARSED_KEPT:  # a backlog beyond this is parsed again when read
                self._parsed.popitem(last=False)
        return fresh

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
        kept = self._parsed.pop(event_id, None)
        envelope = await self.store.get_event(event_id)
        if envelope is None or await self.store.event_status(event_id) is not EventStatus.PENDING:
            return IngestResult(outcome=Outcome.DUPLICATE, event_id=event_id)
        parsed = kept if kept is not None else self.parse(envelope)
        started = time.perf_counter()
        async with self._unit(parsed):
            result = await self._resolve(envelope, parsed)
        result = replace(result, channel=envelope.channel.value, elapsed_s=time.perf_counter() - started)
        if notify:
            await self.notify(result)
        return result

    async def settle(self, event_id: str, *, notify: bool = True) -> IngestResult:
        """`process`, or park the event when its resolution raised `max_attempts` times.

        Each attempt rolls back alone (its own unit). The store's outages propagate, leaving the
        event pending: they say nothing about the event.
        """
        error: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self.process(event_id, notify=notify)
            except self.store.outages:
                raise
            except Exception as e:
                error = e
                log.warning("resolution failed", extra={"event_id": event_id, "attempt": attempt, **_where(e)})
        assert error is not None
        try:
            envelope = await self.store.get_event(event_id)
        except self.store.outages:
            raise
        except Exception:  # a stored envelope that no longer loads is itself why the event failed
            envelope = None
        reason = failure_reason(error, self._text_of(envelope))
        async with self.store.atomic():
            parked = await self.store.park_event(event_id, reason, self.max_attempts)
        if not parked:  # resolved meanwhile by someone else
            return IngestResult(outcome=Outcome.DUPLICATE, event_id=event_id)
        return await self._parked(envelope, event_id, reason, notify=notify)

    async def ingest_or_park(self, envelope: Envelope) -> IngestResult:
        """`ingest` for replay, storing the event parked when its resolution raised `max_attempts`
        times (unusable input still raises InputError: it is reported, not stored)."""
        error: Exception | None = None
        passing: tuple[type[Exception], ...] = (InputError, *self.store.outages)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self.ingest(envelope)
            except passing:
                raise
            except Exception as e:
                error = e
                log.warning("resolution failed", extra={"event_id": envelope.id, "attempt": attempt, **_where(e)})
        assert error is not None
        reason = failure_reason(error, self._text_of(envelope))
        async with self.store.atomic():
            await self.store.add_event(envelope)
            await self.store.park_event(envelope.id, reason, self.max_attempts)
        return await self._parked(envelope, envelope.id, reason, notify=True)

    async def _parked(self, envelope: Envelope | None, event_id: str, reason: str, *, notify: bool) -> IngestResult:
        log.error("event parked", extra={"event_id": event_id, "attempts": self.max_attempts, "reason": reason})
        channel = envelope.channel.value if envelope is not None else ""
        result = IngestResult(outcome=Outcome.PARKED, event_id=event_id, reason=reason, channel=channel)
        if notify:
            await self.notify(result)
        return result

    def _text_of(self, envelope: Envelope | None) -> str:
        """The customer's text of an event, to keep it out of a failure's reason."""
        if envelope is None:
            return ""
        try:
            parsed = self.parse(envelope)
        except Exception:  # the parser itself may be what failed
            return ""
        return parsed.text if isinstance(parsed, Message) else ""

    async def drain_pending(self, batch: int = 500) -> int:
        """Resolve events left pending by a crash or a restart; returns how many were settled.

        A poison event among them is parked (`settle`), so start-up never fails because of one.
        """
        done = 0
        while pending := await self.store.pending_events(batch):
            for envelope in pending:
                await self.settle(envelope.id)
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


# The shortest piece of a customer's text that a failure's reason must not quote.
QUOTE_MIN = 4
REASON_MAX = 200


def failure_reason(error: BaseException, text: str = "") -> str:
    """The one-line summary kept with a parked event: the error's type, where it was raised, and its
    first line with phones and e-mails masked, withheld if it quotes the customer's `text`."""
    where = _where(error).get("where", "")
    detail = scrub(str(error).strip().splitlines()[0]) if str(error).strip() else ""
    probe = text.strip()[:24]
    quotes = (len(probe) >= QUOTE_MIN and probe in detail) or (len(detail) >= QUOTE_MIN and detail in text)
    if quotes:
        detail = "(detail withheld: it quotes the message)"
    summary = type(error).__name__ + (f" at {where}" if where else "") + (f": {detail}" if detail else "")
    return summary[:REASON_MAX]


def _where(error: BaseException) -> dict[str, str]:
    """The file and line an error was raised at, for logs and reasons (never its text)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return {"error": type(error).__name__}
    last = frames[-1]
    return {"error": type(error).__name__, "where": f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"}


@asynccontextmanager
async def _locked_atomic(store: BaseStore, keys: list[str]) -> AsyncIterator[None]:
    # Lock before the transaction: a worker waiting for a key must not hold a transaction open.
    async with store.lock(keys), store.atomic():
        yield
