"""Ingest through a Redis Stream with a consumer group: web processes enqueue, `stitch worker`s resolve.

Keys (beside the store's, under the same `{prefix}` hash tag):
- `q:ingest` stream, group `resolvers`: one entry per accepted event (`event` = event id);
- `q:dead` stream: entries that kept failing, with the reason (`dead_letters()` for ops);
- `q:errors` hash: entry id -> last failure reason (kept until the entry is acknowledged or dead);
- `feed` capped stream: (person_id, event_id, kind) per resolved event, for live inbox updates.

One worker per graph is the writer: it holds the lease `lease` (store/lease.py) and is the only
one reading the stream; the others stand by and take the lease when it lapses, claiming the previous
writer's unacknowledged entries first (`StreamWorker._take_over`). An entry is acknowledged only
after its event's resolution is committed.

Delivery is at least once; processing is idempotent (`Pipeline.process` reports an event that is no
longer pending as a duplicate, and a unit's commit re-checks the event's status), so every event is
resolved exactly once in effect. A worker first re-reads its own pending entries (id "0": a restart
with the same `--name`), then new ones (">"); entries idle longer than `claim_idle_s` (deferred
ones) are taken again with XAUTOCLAIM. An event whose resolution keeps raising is parked in the
store as failed (`Pipeline.settle`) and its entry acknowledged; an entry delivered more than
`max_deliveries` times (a worker died on it each time) goes to `q:dead`, its event parked the same
way, and is acknowledged — never silently dropped. Entries the
stream cap (`stream_maxlen`) trimmed before anyone acknowledged them, delivered or not, have their
events enqueued again on the next claim round (`requeue_orphans`); a delivered one is also recorded
in `q:dead` for ops.

A worker reads up to READ_BATCH entries at once, reads their events in one round trip, and
acknowledges the batch with its live-update entries in one more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError, ResponseError
from redis.typing import EncodableT, FieldT

from app.ingest import IngestResult, Outcome, Pipeline, failure_reason
from app.queue import BaseQueue
from app.replay import ReplaySummary, open_input, read_lines
from core.config import WorkerSettings
from core.errors import InputError, LeaseLost, ReplayLineError, StoreError, WriteConflict
from core.values import Message
from store.lease import RedisLease
from store.redis import RedisStore

log = logging.getLogger("stitch.worker")

GROUP = "resolvers"
# A unit that lost an optimistic race is re-run at once this many times before the entry waits for
# redelivery; conflicts need two workers on one person at the same moment, so a few tries suffice.
CONFLICT_RETRIES = 8
BLOCK_MS = 500  # how long one read waits for new entries (also bounds shutdown latency)
# Entries read per XREADGROUP (at least four per event in flight): the batch's events are read ahead
# in one round trip and its acknowledgements sent in one.
READ_BATCH = 32
CLAIM_BATCH = 100  # entries per XAUTOCLAIM page
# A standby tries the lease this many times per lease period: it takes over at most
# lease_s * (1 + 1 / STANDBY_LOOKS) after the writer died.
STANDBY_LOOKS = 10
# The writer's hold on the graph lock carries this before its lease token: a new writer frees it.
WRITER_TOKEN = "writer:"
ORPHAN_BATCH = 500  # pending events re-enqueued per round trip after their entries were trimmed
DEAD_MAXLEN = 100_000
OUTAGE_PAUSE_S = 0.5  # between attempts while Redis does not answer


# Enqueue pending events again under new arrival numbers. KEYS: the stream, the pending index, the
# arrival counter, then each event's hash; ARGV: the stream cap, then the event ids. An event that
# was resolved meanwhile (no longer pending) is left alone.
_REQUEUE = """
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[2], id) then
    local seq = redis.call('INCR', KEYS[3])
    redis.call('ZADD', KEYS[2], seq, id)
    redis.call('HSET', KEYS[i + 2], 'seq', seq)
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', id)
    n = n + 1
  end
end
return n
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    entry_id: str
    event_id: str
    reason: str
    deliveries: int
    at: float


class RedisStreamQueue(BaseQueue):
    """The producer side: XADD accepted event ids; shared by web processes and `replay --enqueue`."""

    def __init__(self, store: RedisStore, settings: WorkerSettings) -> None:
        self.store = store
        self.client = store.client
        self.settings = settings
        self.stream = store.key("q", "ingest")
        self.dead = store.key("q", "dead")
        self.errors = store.key("q", "errors")
        self.feed = store.key("feed")
        self._requeue = self.client.register_script(_REQUEUE)
        # Live-update entries waiting for the worker's next acknowledgement round trip (None: send at once).
        self.held_feed: list[dict[FieldT, EncodableT]] | None = None

    async def start(self) -> None:
        """A web process's start-up: what an earlier one stored and died before enqueuing goes out now."""
        await self.ensure_group()
        stranded = await self.enqueue_stranded()
        if stranded:
            log.warning("enqueued events stored but never enqueued", extra={"events": stranded})

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def enqueue(self, event_id: str) -> None:
        await self.enqueue_many([event_id])

    async def enqueue_many(self, event_ids: Iterable[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.xadd(self.stream, {"event": event_id}, maxlen=self.settings.stream_maxlen, approximate=True)
        self.store.round_trips += 1
        await pipe.execute()

    async def backlog(self) -> int:
        """Entries not yet delivered plus entries delivered and not acknowledged."""
        pipe = self.client.pipeline(transaction=False)
        pipe.xinfo_groups(self.stream)
        pipe.xlen(self.stream)
        pipe.xrevrange(self.stream, count=1)
        try:
            groups, length, newest = await pipe.execute()
        except ResponseError:
            return 0
        for g in groups:
            if g["name"] == GROUP:
                # Redis counts entries trimmed before delivery in the lag; none waits when the newest
                # entry was delivered, and never more than the stream holds (trimmed entries' events
                # are enqueued again, see requeue_orphans).
                lag = min(int(g.get("lag") or 0), int(length))
                if not newest or _entry_id(newest[0][0]) <= _entry_id(g["last-delivered-id"]):
                    lag = 0
                return lag + int(g.get("pending") or 0)
        return 0

    async def queue_lag(self) -> float:
        """Age in seconds of the oldest entry not yet acknowledged (0 when the workers keep up)."""
        try:
            summary: Any = await self.client.xpending(self.stream, GROUP)
            oldest = summary.get("min") if summary and summary.get("pending") else None
            if oldest is None:
                groups: Any = await self.client.xinfo_groups(self.stream)
                last = next((g["last-delivered-id"] for g in groups if g["name"] == GROUP), "0-0")
                after: Any = await self.client.xrange(self.stream, min="(" + last, count=1)
                oldest = after[0][0] if after else None
        except ResponseError:
            return 0.0
        if oldest is None:
            return 0.0
        return max(0.0, time.time() - int(str(oldest).split("-")[0]) / 1000)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead-lettered entries, for ops."""
        rows: Any = await self.client.xrevrange(self.dead, count=limit)
        return [
            DeadLetter(
                entry_id=f.get("entry", ""),
                event_id=f.get("event", ""),
                reason=f.get("reason", ""),
                deliveries=int(f.get("deliveries", 0)),
                at=float(f.get("at", 0)),
            )
            for _, f in rows
        ]

    async def to_dead(self, entry_id: str, event_id: str, reason: str, deliveries: int) -> None:
        # The event is parked first, as a poison event resolved in-process would be: it leaves the
        # pending backlog and waits for `stitch events retry`. A crash before the entry is acknowledged
        # only redelivers it, and an event no longer pending is reported as a duplicate.
        if event_id and deliveries:
            async with self.store.atomic():
                await self.store.park_event(event_id, reason, deliveries)
        # Dead-letter and acknowledge together: a crash between them must not lose or double the entry.
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(
            self.dead,
            {"entry": entry_id, "event": event_id, "reason": reason, "deliveries": deliveries, "at": time.time()},
            maxlen=DEAD_MAXLEN,
            approximate=True,
        )
        pipe.xack(self.stream, GROUP, entry_id)
        pipe.hdel(self.errors, entry_id)
        await pipe.execute()
        log.warning("event dead-lettered", extra={"event_id": event_id, "deliveries": deliveries})

    async def requeue_orphans(self) -> int:
        """Enqueue again the pending events whose stream entries were trimmed away (MAXLEN).

        Events are enqueued in arrival order (their `seq`), and entries leave the stream oldest
        first, so a pending event that arrived before the event of the oldest entry left has lost its
        entry, delivered or not. It is enqueued again with a new arrival number, so the order holds
        for the next look. Enqueuing an event twice is harmless (a resolved event is reported as a
        duplicate): one enqueued slightly out of order, or accepted and not yet enqueued, may be sent
        twice, none is lost. Returns how many were enqueued.
        """
        oldest: Any = await self.client.xrange(self.stream, count=1)
        pending = self.store.key("ev", "pending")
        if oldest:
            event_id = (oldest[0][1] or {}).get("event", "")
            seq = await self.client.hget(self.store.key("ev", event_id), "seq") if event_id else None
            if seq is None:
                return 0  # an event stored before events kept their arrival number: nothing to compare
            bound = "(" + str(seq)
        else:
            # Nothing left in the stream: every pending event has lost its entry. Bounded by the
            # arrival counter as it is now: the events enqueued below get numbers above it.
            bound = str(await self.client.get(self.store.key("seq")) or 0)
        requeued = 0
        while True:
            ids: Any = await self.client.zrangebyscore(pending, "-inf", bound, start=0, num=ORPHAN_BATCH)
            if not ids:
                return requeued
            keys = [self.stream, pending, self.store.key("seq"), *(self.store.key("ev", i) for i in ids)]
            self.store.round_trips += 1
            requeued += int(await self._requeue(keys=keys, args=[self.settings.stream_maxlen, *ids]))
            log.warning("events re-enqueued after their entries were trimmed", extra={"events": len(ids)})

    async def enqueue_stranded(self) -> int:
        """Enqueue the pending events that no unacknowledged entry names; returns how many.

        A process that dies between storing an event (`Pipeline.accept`) and enqueuing it leaves the
        event pending with no entry, and `requeue_orphans` only finds events older than the stream's
        oldest entry. Entries not yet delivered and entries delivered but not acknowledged are looked
        at (a bounded backlog); an event enqueued twice meanwhile is resolved once.
        """
        pending: Any = await self.client.zrange(self.store.key("ev", "pending"), 0, -1)
        if not pending:
            return 0
        queued = await self._unacknowledged_events()
        stranded = [event_id for event_id in pending if event_id not in queued]
        for start in range(0, len(stranded), ORPHAN_BATCH):
            await self.enqueue_many(stranded[start : start + ORPHAN_BATCH])
        return len(stranded)

    async def _unacknowledged_events(self) -> set[str]:
        """Event ids of the entries not delivered yet and of those delivered but not acknowledged."""
        events: set[str] = set()
        groups: Any = await self.client.xinfo_groups(self.stream)
        after = str(next((g["last-delivered-id"] for g in groups if g["name"] == GROUP), "0-0"))
        while True:
            rows: Any = await self.client.xrange(self.stream, min="(" + after, count=ORPHAN_BATCH)
            if not rows:
                break
            events.update((fields or {}).get("event", "") for _, fields in rows)
            after = str(rows[-1][0])
        after = "-"
        while True:
            held: Any = await self.client.xpending_range(self.stream, GROUP, min=after, max="+", count=ORPHAN_BATCH)
            if not held:
                break
            pipe = self.client.pipeline(transaction=False)
            for entry in held:
                pipe.xrange(self.stream, min=entry["message_id"], max=entry["message_id"], count=1)
            for found in await pipe.execute():
                events.update((fields or {}).get("event", "") for _, fields in found)
            after = "(" + str(held[-1]["message_id"])
        return events

    def feed_writer(self) -> FeedWriter:
        return FeedWriter(self)


class FeedWriter:
    """A pipeline observer appending (person_id, event_id, kind) to the capped live-update stream.

    A `StreamWorker` collects the entries of a batch (`held`) and sends them with the batch's
    acknowledgements in one round trip; elsewhere (a web process) each is appended at once.
    """

    def __init__(self, queue: RedisStreamQueue) -> None:
        self.queue = queue

    async def __call__(self, result: IngestResult) -> None:
        if result.outcome is not Outcome.INGESTED:
            return
        kind = "merge" if result.merges else "new_person" if result.new_person else "message"
        fields: dict[FieldT, EncodableT] = {"person_id": result.person_id, "event_id": result.event_id, "kind": kind}
        if self.queue.held_feed is not None:
            self.queue.held_feed.append(fields)
            return
        self.queue.store.round_trips += 1
        await self.queue.client.xadd(self.queue.feed, fields, maxlen=self.queue.settings.feed_maxlen, approximate=True)


def _entry_id(entry_id: str) -> tuple[int, int]:
    ms, _, n = str(entry_id).partition("-")
    return int(ms), int(n or 0)


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class StreamWorker:
    """One `stitch worker` process: the graph's writer while it holds the lease, a standby otherwise.

    The writer reads the ingest stream and resolves events with the pipeline; a standby only tries
    the lease every `lease_s / STANDBY_LOOKS` and reads nothing. On taking the lease a worker claims
    every entry another consumer left unacknowledged (the previous writer's, dead or fenced off),
    frees the graph lock that writer may have held, and runs `on_elected` (rebuilding whatever it
    keeps in memory from the store) before it resolves anything.
    """

    def __init__(self, pipeline: Pipeline, queue: RedisStreamQueue, *, name: str | None = None) -> None:
        self.pipeline = pipeline
        self.queue = queue
        self.store = queue.store
        self.settings = queue.settings
        self.name = name or default_consumer_name()
        self.client = queue.client
        self.lease = RedisLease(self.store, owner=self.name, lease_s=self.settings.lease_s)
        # Run after each election, before the first event: state kept in memory is rebuilt from the store.
        self.on_elected: list[Callable[[], Awaitable[None]]] = []
        self.processed = 0
        self.conflicts = 0  # WriteConflicts re-run (bench/scale.py)
        self.standby_looks = 0  # tries of the lease that found another writer
        self._writing = False  # the lease is ours (taken over or not)
        self._taken_over = False  # ... and the previous writer's entries are claimed
        self._own_first = True
        self._last_claim = 0.0
        self._slots = asyncio.Semaphore(max(1, self.settings.concurrency))

    @property
    def writing(self) -> bool:
        """This worker is the graph's writer now."""
        return self._writing and self.lease.held

    @property
    def _graph_token(self) -> str:
        return WRITER_TOKEN + self.lease.token

    async def run(self, *, stop: asyncio.Event | None = None, exit_when_idle: bool = False) -> int:
        """Work until `stop` is set (or, with exit_when_idle, until the group has nothing left)."""
        stop = stop or asyncio.Event()
        await self._retrying(self.queue.ensure_group)
        try:
            while not stop.is_set():
                try:
                    if not await self._elected():
                        if exit_when_idle and await self.queue.backlog() == 0:
                            break
                        self.standby_looks += 1
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), self.settings.lease_s / STANDBY_LOOKS)
                        continue
                    worked = await self._round()
                    if not worked and exit_when_idle and await self.queue.backlog() == 0:
                        break
                except LeaseLost:
                    # Nothing of the unit in flight was written; its entry stays pending for the next writer.
                    log.warning("writer lease lost; standing by", extra={"worker": self.name})
                    await self._step_down()
                except (RedisError, OSError, StoreError) as e:
                    # Redis restarting or unreachable: entries in flight stay pending and come back.
                    log.warning("worker paused", extra={"reason": type(e).__name__})
                    self._own_first = True
                    await asyncio.sleep(OUTAGE_PAUSE_S)
        finally:
            await self._step_down()
        return self.processed

    async def _elected(self) -> bool:
        """Whether this worker is the writer, taking the lease (and taking over) when it is free."""
        if self._writing and not self.lease.held:
            log.warning("writer lease lost; standing by", extra={"worker": self.name})
            await self._step_down()
        if not self._writing:
            if not await self.lease.acquire():
                return False
            self._writing, self._taken_over = True, False
            self.store.fence = (self.lease.key, self.lease.token)
        if not self._taken_over:
            await self._take_over()
            self._taken_over = True
            log.info("resolving as the graph's writer", extra={"worker": self.name, "term": self.lease.terms})
        return True

    async def _step_down(self) -> None:
        self.store.fence = None
        self._writing = self._taken_over = False
        self._own_first = True
        await self.lease.release()

    async def _take_over(self) -> None:
        """Claim what the previous writer left unacknowledged, then rebuild what lives in memory."""
        await self.store.break_graph_lock(WRITER_TOKEN)
        for rebuild in self.on_elected:
            await rebuild()
        cursor = "0-0"
        while True:
            cursor, _ = await self._claim_from(cursor, idle_ms=0)
            if cursor == "0-0":
                break
        await self.queue.requeue_orphans()
        self._own_first = True  # and our own entries from an earlier life under the same --name
        self._last_claim = time.monotonic()

    async def _retrying(self, fn: Any) -> None:
        while True:
            try:
                await fn()
                return
            except (RedisError, OSError):
                await asyncio.sleep(OUTAGE_PAUSE_S)

    async def _round(self) -> bool:
        if self._own_first:
            # Our own unacknowledged entries first (after a restart or an outage), until none are left.
            entries = await self._read("0")
            if not entries:
                self._own_first = False
            return await self._handle_all(entries) if entries else True
        if time.monotonic() - self._last_claim >= self.settings.claim_idle_s / 2:
            self._last_claim = time.monotonic()
            if await self._claim():
                return True
        return await self._handle_all(await self._read(">", block=BLOCK_MS))

    async def _read(self, start: str, *, block: int | None = None) -> list[tuple[str, dict[str, str]]]:
        count = max(READ_BATCH, max(1, self.settings.concurrency) * 4)
        got: Any = await self.client.xreadgroup(GROUP, self.name, {self.queue.stream: start}, count=count, block=block)
        self.queue.store.round_trips += 1
        if not got:
            return []
        return [(entry_id, fields or {}) for entry_id, fields in got[0][1]]

    async def _claim(self) -> bool:
        """Take entries left unacknowledged too long (deferred ones, a stuck consumer's) and orphans."""
        _, claimed = await self._claim_from("0-0", idle_ms=int(self.settings.claim_idle_s * 1000))
        # Entries trimmed before they were ever delivered leave no trace in the group at all: look for
        # their events on every claim round (three round trips every claim_idle_s / 2).
        requeued = await self.queue.requeue_orphans()
        return claimed or bool(requeued)

    async def _claim_from(self, start: str, *, idle_ms: int) -> tuple[str, bool]:
        """One XAUTOCLAIM page from `start`: dead-letter repeat offenders, resolve the rest.

        Returns the cursor of the next page ("0-0" once the whole pending list was seen) and whether
        any entry was claimed.
        """
        reply: Any = await self.client.xautoclaim(
            self.queue.stream, GROUP, self.name, min_idle_time=idle_ms, start_id=start, count=CLAIM_BATCH
        )
        cursor = str(reply[0])
        claimed = [(entry_id, fields or {}) for entry_id, fields in reply[1]]
        deleted = reply[2] if len(reply) > 2 else []
        for entry_id in deleted:
            # Trimmed away before anyone acknowledged it; its event, still pending, is enqueued again
            # by requeue_orphans (the entry is recorded for ops, and acknowledged).
            await self.queue.to_dead(
                entry_id, "", "entry trimmed from the stream before it was resolved; enqueued again", 0
            )
        if not claimed:
            return cursor, bool(deleted)
        ids = [e for e, _ in claimed]
        details: Any = await self.client.xpending_range(
            self.queue.stream, GROUP, min=min(ids), max=max(ids), count=len(ids) * 2 + 10, consumername=self.name
        )
        deliveries = {d["message_id"]: int(d["times_delivered"]) for d in details}
        fresh = []
        for entry_id, fields in claimed:
            times = deliveries.get(entry_id, 1)
            if times > self.settings.max_deliveries:
                reason = str(await self.client.hget(self.queue.errors, entry_id) or "kept failing")
                await self.queue.to_dead(entry_id, fields.get("event", ""), reason, times)
            else:
                fresh.append((entry_id, fields))
        for first in range(0, len(fresh), READ_BATCH):
            await self._handle_all(fresh[first : first + READ_BATCH])
        return cursor, True

    async def _handle_all(self, entries: list[tuple[str, dict[str, str]]]) -> bool:
        if not entries:
            return False
        store = self.store
        event_ids = [fields.get("event", "") for _, fields in entries]
        done: list[str] = []
        self.queue.held_feed = []
        try:
            # The batch holds the graph lock: a manual merge or split waits for its end (and is
            # woken by the release); the batch's events in one round trip, not two reads per event.
            async with store.hold_graph(self._graph_token):
                await store.read_events_ahead([e for e in event_ids if e])
                results: list[BaseException | None] = []
                if not await self._batch(entries, done):
                    # One event at a time, each its own unit: several in flight overlap their Redis
                    # round trips, and in-memory locks keep events on the same keys apart.
                    self.queue.held_feed = []
                    results = await asyncio.gather(
                        *(self._handle(entry_id, fields, done) for entry_id, fields in entries),
                        return_exceptions=True,
                    )
        finally:
            store.forget_events_ahead(event_ids)
            feed, self.queue.held_feed = self.queue.held_feed, None
        # Resolved entries are acknowledged together, with their live-update entries; a crash before
        # this only redelivers them, and a redelivered event is reported as a duplicate.
        await self._settle(done, feed)
        # Let every event in flight settle before reporting an outage or a lost lease: none is left
        # half-handled.
        for outcome in results:
            if isinstance(outcome, BaseException):
                raise outcome
        return True

    async def _batch(self, entries: list[tuple[str, dict[str, str]]], done: list[str]) -> bool:
        """Resolve the batch as one unit (`RedisStore.writer_batch`): one commit for its events.

        Returns False, with nothing written, when the batch must be resolved one event at a time
        instead: an event raised what `settle` does not handle itself (a conflict, a store error),
        or the commit found something changed. That path defers or re-runs each event on its own,
        as it always did. A lost lease or an outage propagates: nothing of the batch is written and
        its entries stay pending.
        """
        results: list[tuple[str, IngestResult]] = []
        try:
            event_ids = [fields.get("event", "") for _, fields in entries]
            async with self.store.writer_batch(event_ids):
                await self._seen_ahead(event_ids)
                for entry_id, fields in entries:
                    if not self.lease.held:
                        raise LeaseLost(self.lease.key)  # stop at once: not one more event
                    event_id = fields.get("event", "")
                    if event_id:
                        results.append((entry_id, await self.pipeline.settle(event_id, notify=False)))
        except (RedisError, OSError, LeaseLost):
            raise
        except Exception as e:
            if isinstance(e, WriteConflict):
                self.conflicts += 1
            log.info("batch resolved one event at a time", extra={"events": len(entries), "error": type(e).__name__})
            return False
        # Committed: only now are the events resolved, and only now are the observers told.
        for entry_id, fields in entries:
            if not fields.get("event"):
                await self.queue.to_dead(entry_id, "", "entry without an event id", 1)
        for entry_id, result in results:
            await self.pipeline.notify(result)
            done.append(entry_id)
        return True

    async def _seen_ahead(self, event_ids: list[str]) -> None:
        """Parse the batch's events and ask whether their messages were stored, all in one round trip
        instead of one per event."""
        deliveries: list[tuple[str, str]] = []
        for event_id in filter(None, event_ids):
            envelope = await self.store.get_event(event_id)
            parsed = self.pipeline.parse_ahead(envelope) if envelope is not None else None
            if isinstance(parsed, Message):
                deliveries.append((parsed.channel.value, parsed.provider_message_id))
        if deliveries:
            await self.store.read_seen_ahead(deliveries)

    async def _settle(self, done: list[str], feed: list[dict[FieldT, EncodableT]]) -> None:
        if not done and not feed:
            return
        pipe = self.client.pipeline(transaction=False)
        if done:
            pipe.xack(self.queue.stream, GROUP, *done)
            pipe.hdel(self.queue.errors, *done)
        for fields in feed:
            pipe.xadd(self.queue.feed, fields, maxlen=self.settings.feed_maxlen, approximate=True)
        self.queue.store.round_trips += 1
        await pipe.execute()
        self.processed += len(done)

    async def _handle(self, entry_id: str, fields: dict[str, str], done: list[str]) -> None:
        event_id = fields.get("event", "")
        async with self._slots:
            if not self.lease.held:
                raise LeaseLost(self.lease.key)  # stop at once: not one more event
            if not event_id:
                await self.queue.to_dead(entry_id, "", "entry without an event id", 1)
                return
            try:
                await self._process(event_id)
            except (RedisError, OSError, LeaseLost):
                raise  # an outage or a lost lease: the round stops, the entry stays pending
            except Exception as e:
                # The store failed (a conflict kept coming back): left unacknowledged, XAUTOCLAIM
                # hands it out again after claim_idle_s.
                await self.client.hset(self.queue.errors, entry_id, failure_reason(e))
                log.warning("resolution deferred", extra={"event_id": event_id, "error": type(e).__name__})
                return
            done.append(entry_id)

    async def _process(self, event_id: str) -> None:
        for attempt in range(CONFLICT_RETRIES):
            try:
                await self.pipeline.settle(event_id)
                return
            except WriteConflict:
                # With one writer only a change made outside it (an erasure, a retention sweep) races it.
                self.conflicts += 1
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                await asyncio.sleep(0.001 * (attempt + 1))


async def enqueue_files(
    pipeline: Pipeline, queue: RedisStreamQueue, names: list[str], *, batch: int = 200
) -> ReplaySummary:
    """`stitch replay --enqueue`: store each event as pending and hand it to the workers."""
    summary = ReplaySummary()
    started = time.perf_counter()
    await queue.ensure_group()
    ids: list[str] = []
    try:
        await _enqueue_lines(pipeline, queue, names, summary, ids, batch)
    finally:
        # Events accepted before a file turned unreadable are stored as pending: hand them over.
        if ids:
            await queue.enqueue_many(ids)
    summary.elapsed_s = time.perf_counter() - started
    return summary


async def _enqueue_lines(
    pipeline: Pipeline, queue: RedisStreamQueue, names: list[str], summary: ReplaySummary, ids: list[str], batch: int
) -> None:
    import json

    from connectors.envelope import envelope_from_json

    for name in names:
        with open_input(name) as stream:
            for number, line in read_lines(name, stream):
                summary.lines += 1
                try:
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ReplayLineError(number, f"not JSON: {e.msg}") from e
                    envelope = envelope_from_json(obj, line=number)
                    fresh = await pipeline.accept(envelope)
                except InputError as e:
                    summary.skipped += 1
                    summary.errors.append(f"{name}:{number}: {e}")
                    continue
                if not fresh:
                    summary.duplicates += 1
                    continue
                summary.ingested += 1
                ids.append(envelope.id)
                if len(ids) >= batch:
                    await queue.enqueue_many(ids)
                    ids.clear()
