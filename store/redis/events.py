"""Intake: raw events (the durable inbox) and the messages resolved from them."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from core.errors import StoreError, WriteConflict
from core.records import EventStatus, ParkedEvent, StoredMessage
from core.values import Envelope
from store.codec import MESSAGE_HASHES, envelope_dump, envelope_load, ts
from store.redis.connection import FINISHED, RedisConnection, _Ahead, _f, _Unit


class RedisEvents(RedisConnection):
    # -- events ----------------------------------------------------------------------------------
    async def add_event(self, envelope: Envelope) -> bool:
        async with self._work() as unit:
            key = self.key("ev", envelope.id)
            (status,) = await self._fields(unit, key, ["status"])
            if status is not None:
                return False
            self._hset(unit, key, {"envelope": envelope_dump(envelope), "status": "pending", "reason": ""})
            # The arrival number is kept on the event too: the stream worker compares it with the
            # oldest entry left in the stream to find events whose entries were trimmed away.
            self._zadd_seq(unit, self.key("ev", "pending"), envelope.id, key)
            self._count(unit, "ev:pending", 1)
            return True

    async def read_events_ahead(self, event_ids: Sequence[str]) -> None:
        """Read the events a worker is about to resolve, a whole stream batch in one round trip.

        An envelope never changes once stored, so `get_event` answers from here. The status is handed
        out once by `event_status` (outside a unit, as the pipeline asks before locking), and then
        seeds the status read of the event's unit: `finish_event` checks at commit that the status is
        still the one seen, so a status that changed meanwhile makes the commit refuse and the re-run
        reads afresh. `forget_events_ahead` drops what is left when the batch is done.
        """
        ids = [i for i in dict.fromkeys(event_ids) if i not in self._ahead]
        got = await self._fetch([("hmget", (self.key("ev", i), ["envelope", "status"])) for i in ids])
        for event_id, (envelope, status) in zip(ids, got, strict=True):
            if envelope is not None:
                self._ahead[event_id] = _Ahead(envelope=envelope, status=status)

    def forget_events_ahead(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self._ahead.pop(event_id, None)

    async def get_event(self, event_id: str) -> Envelope | None:
        ahead = self._ahead.get(event_id)
        if ahead is not None:
            return envelope_load(ahead.envelope)
        async with self._work() as unit:
            (raw,) = await self._fields(unit, self.key("ev", event_id), ["envelope"])
            return None if raw is None else envelope_load(raw)

    async def event_status(self, event_id: str) -> EventStatus | None:
        ahead = self._ahead.get(event_id)
        task = asyncio.current_task()
        if ahead is not None and ahead.status is not None and task not in self._units:
            ahead.seed, ahead.status = ahead.status, None
            return EventStatus(ahead.seed)
        async with self._work() as unit:
            (raw,) = await self._fields(unit, self.key("ev", event_id), ["status"])
            return None if raw is None else EventStatus(raw)

    async def finish_event(self, event_id: str, status: EventStatus, reason: str = "") -> None:
        async with self._work() as unit:
            key = self.key("ev", event_id)
            ahead = self._ahead.get(event_id)
            if ahead is not None and ahead.seed is not None:
                if (key, "status") not in unit.cache_f and key not in unit.cache_h:
                    # Seen before the lock; the check below makes the commit confirm it.
                    unit.cache_f[(key, "status")] = ahead.seed
                ahead.seed = None
            (old,) = await self._fields(unit, key, ["status"])
            if old is None:
                return
            # Two workers finishing one event (a reclaimed entry) must not both count it, and the
            # later one must not overwrite the first one's outcome: it re-runs and finds it done.
            if (key, "status") in unit.cache_f:
                seen = unit.cache_f[(key, "status")] or ""
                unit.check("HGET", key, "status", seen)
                if seen in FINISHED and status.value in FINISHED and key not in unit.hashes:
                    raise WriteConflict(f"event {event_id} was already finished by another worker")
            self._hset(unit, key, {"status": status.value, "reason": reason})
            if old != status.value:
                self._count(unit, f"ev:{old}", -1)
                self._count(unit, f"ev:{status.value}", 1)
            if status is not EventStatus.PENDING:
                self._zrem(unit, self.key("ev", "pending"), event_id)

    async def pending_events(self, limit: int) -> list[Envelope]:
        async with self._work() as unit:
            key = self.key("ev", "pending")
            over = unit.zsets.get(key, {})
            removed = sum(1 for s in over.values() if s is None)
            (got,) = await self._fetch([("zrange", (key, 0, limit + removed - 1, False, True))])
            ids = [m for m, _ in self._overlaid(unit, key, [(m, float(s)) for m, s in got])][:limit]
            raws = [(await self._fields(unit, self.key("ev", i), ["envelope"]))[0] for i in ids]
            return [envelope_load(r) for r in raws if r is not None]

    async def event_counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            return {f[3:]: n for f, n in counts.items() if f.startswith("ev:") and n > 0}

    async def count_events(self, status: EventStatus) -> int:
        async with self._work() as unit:
            return max(0, (await self._counters(unit)).get(f"ev:{EventStatus(status).value}", 0))

    async def park_event(self, event_id: str, reason: str, attempts: int) -> bool:
        async with self._work() as unit:
            key = self.key("ev", event_id)
            status, raw, before = await self._fields(unit, key, ["status", "envelope", "attempts"])
            if status != EventStatus.PENDING.value or raw is None:
                return False
            # A worker that resolved the event meanwhile makes this commit refuse (WriteConflict).
            self._check_status(unit, key, status)
            total = int(before or 0) + attempts
            self._hset(unit, key, {"status": EventStatus.FAILED.value, "reason": reason, "attempts": str(total)})
            self._count(unit, "ev:pending", -1)
            self._count(unit, "ev:failed", 1)
            self._zrem(unit, self.key("ev", "pending"), event_id)
            self._zadd(unit, self.key("ev", "failed"), event_id, ts(envelope_load(raw).received_at))
            return True

    async def unpark_event(self, event_id: str) -> bool:
        async with self._work() as unit:
            key = self.key("ev", event_id)
            (status,) = await self._fields(unit, key, ["status"])
            if status != EventStatus.FAILED.value:
                return False
            self._check_status(unit, key, status)
            self._hset(unit, key, {"status": EventStatus.PENDING.value, "reason": ""})
            self._count(unit, "ev:failed", -1)
            self._count(unit, "ev:pending", 1)
            self._zrem(unit, self.key("ev", "failed"), event_id)
            # A new arrival number, as when it was stored: the stream worker's orphan check reads it.
            self._zadd_seq(unit, self.key("ev", "pending"), event_id, key)
            return True

    @staticmethod
    def _check_status(unit: _Unit, key: str, status: str) -> None:
        # Only a status read from Redis is checked at commit; one this unit wrote (an event stored
        # and parked in one unit, as replay does) is not in Redis yet.
        if "status" not in unit.hashes.get(key, {}):
            unit.check("HGET", key, "status", status)

    async def parked_events(self, limit: int) -> list[ParkedEvent]:
        async with self._work() as unit:
            key = self.key("ev", "failed")
            (got,) = await self._fetch([("zrange", (key, 0, limit - 1, False, True))])
            rows = self._overlaid(unit, key, [(m, float(sc)) for m, sc in got])
            rows.sort(key=lambda ms: ms[1])
            parked = []
            for event_id, _ in rows[:limit]:
                raw, attempts, reason = await self._fields(
                    unit, self.key("ev", event_id), ["envelope", "attempts", "reason"]
                )
                if raw is None:
                    continue
                envelope = envelope_load(raw)
                parked.append(
                    ParkedEvent(
                        event_id=event_id,
                        channel=envelope.channel.value,
                        received_at=envelope.received_at,
                        attempts=int(attempts or 0),
                        reason=reason or "",
                    )
                )
            return parked

    # -- messages --------------------------------------------------------------------------------
    async def message_seen(self, channel: str, provider_message_id: str) -> bool:
        async with self._work() as unit:
            (seen,) = await self._fields(unit, self.key("msg", "ids"), [f"{channel}|{provider_message_id}|in"])
            return seen is not None

    async def read_seen_ahead(self, deliveries: Sequence[tuple[str, str]]) -> None:
        """Whether each (channel, provider message id) was stored, for a whole writer batch in one round
        trip: `message_seen` and `add_message` of the batch's events then read it from the unit."""
        async with self._work() as unit:
            key = self.key("msg", "ids")
            wanted = [f"{c}|{m}|in" for c, m in dict.fromkeys(deliveries)]
            await self._fields(unit, key, wanted)

    async def add_message(self, message: StoredMessage) -> None:
        async with self._work() as unit:
            key = self.key("msg", message.event_id)
            ident = f"{message.channel.value}|{message.provider_message_id}|{message.direction.value}"
            (taken,) = await self._fields(unit, self.key("msg", "ids"), [ident])
            if taken is not None:
                raise StoreError(f"message of event {message.event_id} is already stored")
            # The same delivery resolved twice at once (a reclaimed entry): only one may store it.
            unit.check("HEXISTS", self.key("msg", "ids"), ident, "0")
            self._hset(unit, key, {**MESSAGE_HASHES.to_hash(message, skip=["event_id"]), "seq": _f(unit.next_local())})
            self._hset(unit, self.key("msg", "ids"), {ident: message.event_id})
            self._zadd(unit, self.key("msg", "by", message.profile_key), message.event_id, ts(message.sent_at))
            self._zadd_seq(unit, self.key("msg", message.direction.value), message.event_id, key)
            self._count(unit, "messages", 1)

    async def _message_ids(self, unit: _Unit, profile_keys: Sequence[str], bound: float, limit: int) -> list[str]:
        keys = [self.key("msg", "by", k) for k in profile_keys]
        top = "(" + _f(bound) if math.isfinite(bound) else "+inf"
        calls: list[tuple[str, tuple[Any, ...]]] = [("zrevrangebyscore", (k, top, "-inf", 0, limit)) for k in keys]
        ids: list[str] = []
        for k, got in zip(keys, await self._fetch(calls), strict=True):
            over = unit.zsets.get(k, {})
            ids.extend(m for m in got if over.get(m, 0.0) is not None)
            ids.extend(m for m, s in over.items() if s is not None and s < bound and m not in got)
        return list(dict.fromkeys(ids))

    async def messages_of(
        self, profile_keys: Sequence[str], *, limit: int = 200, before: datetime | None = None
    ) -> list[StoredMessage]:
        if not profile_keys:
            return []
        async with self._work() as unit:
            bound = ts(before) if before else math.inf
            ids = await self._message_ids(unit, profile_keys, bound, limit)
            hashes = await self._hashes(unit, [self.key("msg", i) for i in ids])
            rows = [(float(h["sent_at"]), float(h.get("seq", 0)), i, h) for i, h in zip(ids, hashes, strict=True) if h]
            rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
            return [MESSAGE_HASHES.from_hash(h, event_id=i) for _, _, i, h in rows[:limit]]

    async def relead_messages(self, profile_keys: Sequence[str], from_lead: str, to_lead: str) -> None:
        if not profile_keys:
            return
        async with self._work() as unit:
            ids = await self._message_ids(unit, profile_keys, math.inf, -1)
            keys = [self.key("msg", i) for i in ids]
            for key, h in zip(keys, await self._hashes(unit, keys), strict=True):
                if h.get("lead") == from_lead:
                    self._hset(unit, key, {"lead": to_lead})

    async def iter_messages(self) -> AsyncIterator[StoredMessage]:
        async for ids in self._walk(self.key("msg", "in")):
            got = await self._fetch([("hgetall", (self.key("msg", i),)) for i in ids])
            for i, h in zip(ids, got, strict=True):
                if h:
                    yield MESSAGE_HASHES.from_hash(h, event_id=i)
