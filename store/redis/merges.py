"""Merges, suggestions and "not the same person" marks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from core.errors import StoreError
from core.records import MergeKind, MergeRecord, Suggestion, SuggestionStatus
from store.codec import MERGES, SUGGESTIONS, ts
from store.redis.connection import RedisConnection, _Unit


class RedisMerges(RedisConnection):
    # -- merges, suggestions, cannot-links -------------------------------------------------------
    async def add_merge(self, record: MergeRecord) -> None:
        async with self._work() as unit:
            key = self.key("mg", record.merge_id)
            self._assume_absent(unit, [key])
            if await self._hash(unit, key):
                raise StoreError(f"merge {record.merge_id} already exists")
            self._hset(unit, key, MERGES.to_hash(record, skip=["merge_id"]))
            self._zadd_seq(unit, self.key("mg", "all"), record.merge_id)
            self._count(unit, f"mg:{record.kind.value}", 1)
            if record.kind is not MergeKind.SPLIT and record.undone_by is None:
                self._count(unit, "merges", 1)

    async def get_merge(self, merge_id: str) -> MergeRecord | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("mg", merge_id))
            return MERGES.from_hash(h, merge_id=merge_id) if h else None

    async def set_merge_undone(self, merge_id: str, by: str) -> None:
        async with self._work() as unit:
            key = self.key("mg", merge_id)
            h = await self._hash(unit, key)
            if not h:
                return
            if h.get("undone_by") is None and h["kind"] != MergeKind.SPLIT.value:
                self._count(unit, "merges", -1)
            self._hset(unit, key, {"undone_by": by})

    async def merges(self, *, limit: int | None = None) -> list[MergeRecord]:
        async with self._work() as unit:
            key = self.key("mg", "all")
            (got,) = await self._fetch([("zrange", (key, 0, -1 if limit is None else limit - 1, True, True))])
            rows = self._overlaid(unit, key, [(m, float(s)) for m, s in got])
            ids = [m for m, _ in sorted(rows, key=lambda ms: ms[1], reverse=True)][:limit]
            hashes = await self._hashes(unit, [self.key("mg", i) for i in ids])
            return [MERGES.from_hash(h, merge_id=i) for i, h in zip(ids, hashes, strict=True) if h]

    async def _pair(self, unit: _Unit, key: str) -> str | None:
        if key in unit.strings:
            return unit.strings[key]
        if key not in unit.cache_str:
            (unit.cache_str[key],) = await self._fetch([("get", (key,))])
            # One pending suggestion per pair, also across workers.
            unit.check("EXISTS", key, "1" if unit.cache_str[key] is not None else "0")
        return unit.cache_str[key]

    def _set_pair(self, unit: _Unit, key: str, value: str | None) -> None:
        unit.put(unit.strings, key, value)
        unit.ops.append(["SET", key, value] if value is not None else ["DEL", key])

    async def add_suggestion(self, suggestion: Suggestion) -> bool:
        a, b = sorted((suggestion.a, suggestion.b))
        async with self._work() as unit:
            key = self.key("sg", suggestion.suggestion_id)
            pending = suggestion.status is SuggestionStatus.PENDING
            pair = self.key("sg", "pair", f"{a}|{b}")
            if await self._hash(unit, key) or (pending and await self._pair(unit, pair) is not None):
                return False
            self._hset(unit, key, SUGGESTIONS.to_hash(replace(suggestion, a=a, b=b), skip=["suggestion_id"]))
            self._zadd(
                unit, self.key("sg", "st", suggestion.status.value), suggestion.suggestion_id, ts(suggestion.created_at)
            )
            if pending:
                self._pending_suggestion(unit, suggestion.suggestion_id, a, b, True)
            return True

    def _pending_suggestion(self, unit: _Unit, suggestion_id: str, a: str, b: str, pending: bool) -> None:
        for side in (a, b):
            (self._sadd if pending else self._srem)(unit, self.key("sg", "of", side), suggestion_id)
        self._set_pair(unit, self.key("sg", "pair", f"{a}|{b}"), suggestion_id if pending else None)
        self._count(unit, "suggestions", 1 if pending else -1)

    async def get_suggestion(self, suggestion_id: str) -> Suggestion | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("sg", suggestion_id))
            return SUGGESTIONS.from_hash(h, suggestion_id=suggestion_id) if h else None

    async def set_suggestion_status(self, suggestion_id: str, status: SuggestionStatus) -> None:
        async with self._work() as unit:
            key = self.key("sg", suggestion_id)
            h = await self._hash(unit, key)
            if not h or h["status"] == status.value:
                return
            old = SuggestionStatus(h["status"])
            self._hset(unit, key, {"status": status.value})
            self._zrem(unit, self.key("sg", "st", old.value), suggestion_id)
            self._zadd(unit, self.key("sg", "st", status.value), suggestion_id, float(h["created_at"]))
            if SuggestionStatus.PENDING in (old, status):
                self._pending_suggestion(unit, suggestion_id, h["a"], h["b"], status is SuggestionStatus.PENDING)

    async def suggestions(self, status: SuggestionStatus = SuggestionStatus.PENDING) -> list[Suggestion]:
        async with self._work() as unit:
            (rows,) = await self._zsets(unit, [self.key("sg", "st", status.value)])
            ids = [m for m, _ in rows]
            hashes = await self._hashes(unit, [self.key("sg", i) for i in ids])
            return [SUGGESTIONS.from_hash(h, suggestion_id=i) for i, h in zip(ids, hashes, strict=True) if h]

    async def suggestions_of(self, person_ids: Sequence[str]) -> list[Suggestion]:
        if not person_ids:
            return []
        async with self._work() as unit:
            found = await self._members(unit, [self.key("sg", "of", p) for p in person_ids])
            ids = sorted({i for members in found for i in members})
            hashes = await self._hashes(unit, [self.key("sg", i) for i in ids])
            return [
                SUGGESTIONS.from_hash(h, suggestion_id=i)
                for i, h in zip(ids, hashes, strict=True)
                if h and h["status"] == SuggestionStatus.PENDING.value
            ]

    async def add_cannot_link(self, a: str, b: str, actor: str, at: datetime) -> None:
        a, b = sorted((a, b))
        value = json.dumps([actor, ts(at)], ensure_ascii=False)
        async with self._work() as unit:
            (known,) = await self._fields(unit, self.key("cl", a), [b])
            if known is None:
                self._hsetnx(unit, self.key("cl", a), b, value)
                self._hsetnx(unit, self.key("cl", b), a, value)

    async def cannot_links_of(self, person_ids: Sequence[str]) -> set[str]:
        if not person_ids:
            return set()
        async with self._work() as unit:
            keys = [self.key("cl", p) for p in person_ids]
            hashes = await self._hashes(unit, keys)
            for k in keys:
                # A "not the same person" mark racing a merge: whichever commits second re-runs.
                unit.check("HLEN", k, str(len(unit.cache_h[k])))
            return {other for h in hashes for other in h}
