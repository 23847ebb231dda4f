"""The outbox: managers' replies and their delivery state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.errors import StoreError
from core.records import OutboxItem, OutboxStatus
from store.codec import OUTBOX, ts
from store.redis.connection import RedisConnection, _f, _Unit


class RedisOutbox(RedisConnection):
    # -- outbox ----------------------------------------------------------------------------------
    async def add_outbox(self, item: OutboxItem) -> None:
        async with self._work() as unit:
            if await self._hash(unit, self.key("ob", item.id)):
                raise StoreError(f"reply {item.id} already exists")
            await self._put_outbox(unit, item)

    async def put_outbox(self, item: OutboxItem) -> None:
        async with self._work() as unit:
            await self._put_outbox(unit, item)

    async def _put_outbox(self, unit: _Unit, item: OutboxItem) -> None:
        key = self.key("ob", item.id)
        old = await self._hash(unit, key)
        created = ts(item.created_at)
        if old.get("status") != item.status.value:
            if old:
                self._count(unit, f"ob:{old['status']}", -1)
                self._zrem(unit, self.key("ob", "st", old["status"]), item.id)
            self._count(unit, f"ob:{item.status.value}", 1)
            self._zadd(unit, self.key("ob", "st", item.status.value), item.id, created)
        if old.get("person_id") and old["person_id"] != item.person_id:
            self._zrem(unit, self.key("ob", "of", old["person_id"]), item.id)
        self._zadd(unit, self.key("ob", "of", item.person_id), item.id, created)
        if item.status is OutboxStatus.FAILED:
            self._zadd(unit, self.key("ob", "failed"), item.id, ts(item.updated_at))
        elif old.get("status") == OutboxStatus.FAILED.value:
            self._zrem(unit, self.key("ob", "failed"), item.id)
        if old.get("pmid") and old["pmid"] != item.provider_message_id:
            self._hset(unit, self.key("ob", "pid"), {f"{old['channel']}|{old['pmid']}": None})
        if item.provider_message_id:
            self._hset(unit, self.key("ob", "pid"), {f"{item.channel.value}|{item.provider_message_id}": item.id})
        self._hset(unit, key, OUTBOX.to_hash(item, skip=["id"]))

    async def get_outbox(self, item_id: str) -> OutboxItem | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("ob", item_id))
            return OUTBOX.from_hash(h, id=item_id) if h else None

    async def outbox_by_provider_id(self, channel: str, provider_message_id: str) -> OutboxItem | None:
        if not provider_message_id:
            return None
        async with self._work() as unit:
            (item_id,) = await self._fields(unit, self.key("ob", "pid"), [f"{channel}|{provider_message_id}"])
            if item_id is None:
                return None
            h = await self._hash(unit, self.key("ob", item_id))
            return OUTBOX.from_hash(h, id=item_id) if h else None

    async def _outboxes(self, unit: _Unit, ids: Sequence[str]) -> list[OutboxItem]:
        hashes = await self._hashes(unit, [self.key("ob", i) for i in ids])
        return [OUTBOX.from_hash(h, id=i) for i, h in zip(ids, hashes, strict=True) if h]

    async def outbox_queued(self, before: datetime, limit: int) -> list[OutboxItem]:
        async with self._work() as unit:
            key = self.key("ob", "st", OutboxStatus.QUEUED.value)
            (got,) = await self._fetch([("zrangebyscore", (key, "-inf", "(" + _f(ts(before)), 0, limit, True))])
            rows = [ms for ms in self._overlaid(unit, key, [(m, float(s)) for m, s in got]) if ms[1] < ts(before)]
            return await self._outboxes(unit, [m for m, _ in rows[:limit]])

    async def outbox_of(self, person_ids: Sequence[str], *, limit: int = 200) -> list[OutboxItem]:
        if not person_ids:
            return []
        async with self._work() as unit:
            keys = [self.key("ob", "of", p) for p in person_ids]
            calls: list[tuple[str, tuple[Any, ...]]] = [("zrevrange", (k, 0, limit - 1, True)) for k in keys]
            rows: list[tuple[str, float]] = []
            for k, got in zip(keys, await self._fetch(calls), strict=True):
                rows.extend(self._overlaid(unit, k, [(m, float(sc)) for m, sc in got]))
            rows.sort(key=lambda ms: ms[1], reverse=True)
            return await self._outboxes(unit, list(dict.fromkeys(m for m, _ in rows))[:limit])

    async def mark_contact_asked(self, profile_key: str, at: datetime) -> bool:
        async with self._work() as unit:
            key = self.key("asked")
            (known,) = await self._fields(unit, key, [profile_key])
            if known is not None:
                return False
            # Test-and-set across workers: a second asker's unit fails its check and re-runs.
            unit.check("HEXISTS", key, profile_key, "0")
            self._hset(unit, key, {profile_key: _f(ts(at))})
            return True

    async def outbox_failed(self, limit: int) -> list[OutboxItem]:
        async with self._work() as unit:
            key = self.key("ob", "failed")
            (got,) = await self._fetch([("zrevrange", (key, 0, limit - 1, True))])
            rows = self._overlaid(unit, key, [(m, float(sc)) for m, sc in got])
            rows.sort(key=lambda ms: ms[1], reverse=True)
            return await self._outboxes(unit, [m for m, _ in rows[:limit]])
