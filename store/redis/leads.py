"""Leads: one customer inquiry each, folded and restored with merges and splits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from core.records import Lead
from store.codec import LEADS, ts
from store.redis.connection import RedisConnection, _f, _Unit


class RedisLeads(RedisConnection):
    # -- leads -----------------------------------------------------------------------------------
    async def add_lead(self, lead: Lead) -> None:
        await self.put_lead(lead)

    async def put_lead(self, lead: Lead) -> None:
        async with self._work() as unit:
            key = self.key("ld", lead.lead_id)
            old = await self._hash(unit, key)
            was_root = bool(old) and old.get("merged_into") is None
            is_root = lead.merged_into is None
            if was_root != is_root:
                self._count(unit, "leads", 1 if is_root else -1)
            if old and old["person_id"] != lead.person_id:
                self._zrem(unit, self.key("ld", "of", old["person_id"]), lead.lead_id)
            if old.get("merged_by") and old.get("merged_by") != lead.merged_by:
                self._srem(unit, self.key("ld", "mb", old["merged_by"]), lead.lead_id)
            created = ts(lead.created_at)
            self._hset(unit, key, LEADS.to_hash(lead, skip=["lead_id"]))
            if old.get("created_at") != _f(created) or old.get("person_id") != lead.person_id:
                self._zadd(unit, self.key("ld", "all"), lead.lead_id, created)
                self._zadd(unit, self.key("ld", "of", lead.person_id), lead.lead_id, created)
            if lead.merged_by and old.get("merged_by") != lead.merged_by:
                self._sadd(unit, self.key("ld", "mb", lead.merged_by), lead.lead_id)

    async def get_lead(self, lead_id: str) -> Lead | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("ld", lead_id))
            return LEADS.from_hash(h, lead_id=lead_id) if h else None

    async def _leads(self, unit: _Unit, ids: Sequence[str]) -> list[Lead]:
        hashes = await self._hashes(unit, [self.key("ld", i) for i in ids])
        return [LEADS.from_hash(h, lead_id=i) for i, h in zip(ids, hashes, strict=True) if h]

    async def leads_of(self, person_ids: Sequence[str]) -> list[Lead]:
        if not person_ids:
            return []
        async with self._work() as unit:
            keys = [self.key("ld", "of", p) for p in person_ids]
            zsets = await self._zsets(unit, keys)
            for k in keys:
                # Two workers must not both open the first lead of one person.
                unit.check("ZCARD", k, str(len(unit.cache_z[k])))
            rows = sorted((ms for z in zsets for ms in z), key=lambda ms: (ms[1], ms[0]))
            return await self._leads(unit, list(dict.fromkeys(m for m, _ in rows)))

    async def leads_merged_by(self, merge_id: str) -> list[Lead]:
        async with self._work() as unit:
            (ids,) = await self._members(unit, [self.key("ld", "mb", merge_id)])
            return await self._leads(unit, sorted(ids))

    async def iter_leads(self) -> AsyncIterator[Lead]:
        async for ids in self._walk(self.key("ld", "all")):
            got = await self._fetch([("hgetall", (self.key("ld", i),)) for i in ids])
            for i, h in zip(ids, got, strict=True):
                if h:
                    yield LEADS.from_hash(h, lead_id=i)
