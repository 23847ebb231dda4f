"""The identity graph: profiles, identifiers, persons and the recent-message blocking index."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from core.errors import StoreError
from core.inbox import search_words
from core.records import Evidence, Person, Profile, RecentHit
from core.values import Identifier, IdKind, Provenance
from store.codec import PERSONS, PROFILES, dt, evidence_dump, evidence_load, ts
from store.redis.connection import CHUNK, RECENT_CAP, RedisConnection, _f, _Unit


class RedisGraph(RedisConnection):
    # -- profiles and identifiers ----------------------------------------------------------------
    async def get_profiles(self, keys: Sequence[str]) -> dict[str, Profile]:
        if not keys:
            return {}
        async with self._work() as unit:
            hash_keys = [self.key("pr", k) for k in keys]
            await self._graph(unit, profiles=[k for k in dict.fromkeys(keys) if self.key("pr", k) not in unit.cache_h])
            hashes = await self._hashes(unit, hash_keys)
            return {k: PROFILES.from_hash(h, key=k) for k, h in zip(keys, hashes, strict=True) if h}

    async def put_profile(self, profile: Profile) -> None:
        async with self._work() as unit:
            key = self.key("pr", profile.key)
            old = await self._hash(unit, key)
            if not old:
                self._count(unit, "profiles", 1)
            elif old["person_id"] != profile.person_id:
                self._zrem(unit, self.key("pp", old["person_id"]), profile.key)
            if not old or (old["name"], old["handle"]) != (profile.name, profile.handle):
                # Only a new or renamed profile touches the name index: most writes just move last_seen.
                before = search_words(old["name"], old["handle"]) if old else set()
                after = search_words(profile.name, profile.handle)
                for word in sorted(before - after):
                    self._zrem(unit, self.key("pw"), f"{word} {profile.key}")
                for word in sorted(after - before):
                    self._zadd(unit, self.key("pw"), f"{word} {profile.key}", 0.0)
            first = ts(profile.first_seen)
            self._hset(unit, key, PROFILES.to_hash(profile, skip=["key"]))
            if old.get("first_seen") != _f(first) or old.get("person_id") != profile.person_id:
                self._zadd(unit, self.key("pr", "all"), profile.key, first)
                self._zadd(unit, self.key("pp", profile.person_id), profile.key, first)

    async def iter_profiles(self) -> AsyncIterator[Profile]:
        async for keys in self._walk(self.key("pr", "all")):
            got = await self._fetch([("hgetall", (self.key("pr", k),)) for k in keys])
            for k, h in zip(keys, got, strict=True):
                if h:
                    yield PROFILES.from_hash(h, key=k)

    async def link_identifier(self, profile_key: str, identifier: Identifier) -> None:
        async with self._work() as unit:
            key = self.key("id", identifier.key)
            (known,) = await self._fields(unit, key, [profile_key])
            if known is not None:
                return
            self._hsetnx(unit, key, profile_key, identifier.provenance.value)
            self._hsetnx(unit, self.key("pid", profile_key), identifier.key, identifier.provenance.value)

    async def identifiers_of(self, profile_keys: Sequence[str]) -> dict[str, list[Identifier]]:
        out: dict[str, list[Identifier]] = {k: [] for k in profile_keys}
        if not profile_keys:
            return out
        async with self._work() as unit:
            hashes = await self._hashes(unit, [self.key("pid", k) for k in profile_keys])
            for k, h in zip(profile_keys, hashes, strict=True):
                for ident in sorted(h):
                    kind, _, value = ident.partition(":")
                    out[k].append(Identifier(kind=IdKind(kind), value=value, provenance=Provenance(h[ident])))
            return out

    async def profiles_by_identifier(self, identifier_keys: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {k: [] for k in identifier_keys}
        if not identifier_keys:
            return out
        async with self._work() as unit:
            keys = [self.key("id", k) for k in identifier_keys]
            # The resolver next asks whether these identifiers are shared and follows the profiles
            # found to their persons: one round trip for all of it.
            shared = self.key("shared")
            ask = [k for k in dict.fromkeys(identifier_keys) if self.key("id", k) not in unit.cache_h]
            fields = [] if shared in unit.cache_h else [k for k in ask if (shared, k) not in unit.cache_f]
            if ask:
                answers = await self._graph(unit, identifiers=ask, shared=fields)
                for f, v in zip(fields, answers.get(shared, ()), strict=True):
                    unit.cache_f[(shared, f)] = v
            hashes = await self._hashes(unit, keys)
            for k, h in zip(identifier_keys, hashes, strict=True):
                out[k] = sorted(h)
            return out

    async def mark_shared(self, identifier_key: str, reason: str, at: datetime) -> None:
        async with self._work() as unit:
            key = self.key("shared")
            (known,) = await self._fields(unit, key, [identifier_key])
            if known is None:
                self._hsetnx(unit, key, identifier_key, json.dumps([reason, ts(at)], ensure_ascii=False))

    async def shared_among(self, identifier_keys: Sequence[str]) -> set[str]:
        if not identifier_keys:
            return set()
        async with self._work() as unit:
            got = await self._fields(unit, self.key("shared"), identifier_keys)
            return {k for k, v in zip(identifier_keys, got, strict=True) if v is not None}

    async def list_shared(self) -> list[tuple[str, str, datetime]]:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("shared"))
            rows = [(k, *json.loads(v)) for k, v in h.items()]
            rows.sort(key=lambda r: r[2], reverse=True)
            return [(k, reason, dt(since)) for k, reason, since in rows]

    async def add_edge(self, a: str, b: str, score: float, evidence: Sequence[Evidence], at: datetime) -> None:
        a, b = min(a, b), max(a, b)
        value = json.dumps({"s": score, "e": evidence_dump(evidence), "at": ts(at)}, ensure_ascii=False)
        async with self._work() as unit:
            self._hset(unit, self.key("edge", a), {b: value})
            self._hset(unit, self.key("edge", b), {a: value})

    async def edges_of(self, profile_keys: Sequence[str]) -> list[tuple[str, str, float, list[Evidence]]]:
        if not profile_keys:
            return []
        async with self._work() as unit:
            hashes = await self._hashes(unit, [self.key("edge", k) for k in profile_keys])
            found: dict[tuple[str, str], str] = {}
            for k, h in zip(profile_keys, hashes, strict=True):
                for other, value in h.items():
                    found[(min(k, other), max(k, other))] = value
            out = []
            for (a, b), value in sorted(found.items()):
                obj = json.loads(value)
                out.append((a, b, float(obj["s"]), list(evidence_load(obj["e"]))))
            return out

    # -- persons ---------------------------------------------------------------------------------
    async def _person_hashes(self, unit: _Unit, person_ids: Sequence[str]) -> list[dict[str, str]]:
        keys = [self.key("pe", p) for p in person_ids]
        hashes = await self._hashes(unit, keys)
        for k in keys:
            # Merges rest on the alias forest: a root that changed under us invalidates the unit.
            unit.check("HGET", k, "merged_into", unit.cache_h[k].get("merged_into", ""))
        return hashes

    async def add_person(self, person: Person) -> None:
        async with self._work() as unit:
            key = self.key("pe", person.person_id)
            # A new id is taken as free without a round trip: the commit checks that it is. (Its
            # indexes may exist already, a lead stored before its person: members_of reads them.)
            self._assume_absent(unit, [key])
            if await self._hash(unit, key):
                raise StoreError(f"person {person.person_id} already exists")
            self._hset(unit, key, PERSONS.to_hash(person, skip=["person_id"]))
            self._zadd(unit, self.key("pe", "all"), person.person_id, ts(person.created_at))
            if person.merged_into is None:
                self._count(unit, "persons", 1)
            else:
                self._sadd(unit, self.key("ch", person.merged_into), person.person_id)

    async def get_person(self, person_id: str) -> Person | None:
        async with self._work() as unit:
            (h,) = await self._person_hashes(unit, [person_id])
            return PERSONS.from_hash(h, person_id=person_id) if h else None

    async def update_person(
        self, person_id: str, *, display_name: str | None = None, responsible: str | None = None
    ) -> None:
        async with self._work() as unit:
            key = self.key("pe", person_id)
            if not await self._hash(unit, key):
                return
            change = {"display_name": display_name, "responsible": responsible}
            self._hset(unit, key, {f: v for f, v in change.items() if v is not None})

    async def set_merged_into(self, person_id: str, into: str | None) -> None:
        async with self._work() as unit:
            (h,) = await self._person_hashes(unit, [person_id])
            if not h:
                return
            old = h.get("merged_into")
            if old == into:
                return
            if old is None:
                self._count(unit, "persons", -1)
            else:
                self._srem(unit, self.key("ch", old), person_id)
            if into is None:
                self._count(unit, "persons", 1)
            else:
                self._sadd(unit, self.key("ch", into), person_id)
            self._hset(unit, self.key("pe", person_id), {"merged_into": into})

    async def members_of(self, root: str) -> list[str]:
        # The walk below is one round trip per generation, and profiles or leads are read next: the
        # graph read answers all of it at once (and leaves every check to the accessors).
        async with self._work() as unit:
            if self.key("ch", root) not in unit.cache_s:
                await self._graph(unit, persons=[root])
            return await super().members_of(root)

    async def children_of(self, person_ids: Sequence[str]) -> list[str]:
        if not person_ids:
            return []
        async with self._work() as unit:
            keys = [self.key("ch", p) for p in person_ids]
            found = await self._members(unit, keys)
            for k in keys:
                unit.check("SCARD", k, str(len(unit.cache_s[k])))
            return sorted({c for members in found for c in members})

    async def profile_keys_of(self, person_ids: Sequence[str]) -> list[str]:
        if not person_ids:
            return []
        async with self._work() as unit:
            rows = [ms for z in await self._zsets(unit, [self.key("pp", p) for p in person_ids]) for ms in z]
            rows.sort(key=lambda ms: (ms[1], ms[0]))
            return list(dict.fromkeys(m for m, _ in rows))

    async def iter_persons(self) -> AsyncIterator[Person]:
        async for ids in self._walk(self.key("pe", "all")):
            got = await self._fetch([("hgetall", (self.key("pe", i),)) for i in ids])
            for i, h in zip(ids, got, strict=True):
                if h:
                    yield PERSONS.from_hash(h, person_id=i)

    async def counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            fields = ("persons", "profiles", "merges", "suggestions", "leads", "messages")
            return {f: counts.get(f, 0) for f in fields}

    # -- recent ----------------------------------------------------------------------------------
    async def add_recent(self, blocks: Iterable[str], hit: RecentHit) -> None:
        member = json.dumps([hit.profile_key, hit.event_id, hit.text], ensure_ascii=False)
        async with self._work() as unit:
            for block in blocks:
                key = self.key("rc", block)
                self._zadd(unit, key, member, ts(hit.at))
                # Trimming keeps a block bounded when a common name floods it; reads take the newest.
                unit.ops.append(["ZREMRANGEBYRANK", key, "0", str(-RECENT_CAP - 1)])
                unit.ops.append(["SADD", self.key("rc", "blocks"), block])

    async def recent(self, blocks: Iterable[str], since: datetime, limit: int) -> list[RecentHit]:
        keys = [self.key("rc", b) for b in blocks]
        if not keys:
            return []
        async with self._work() as unit:
            low = ts(since)
            answers: dict[str, list[Any]] = {}
            ask = []
            for k in dict.fromkeys(keys):
                cached = unit.cache_r.get((k, limit))
                if cached is not None and cached[0] <= low:
                    # Read earlier in the writer's batch from a lower bound: the newest `limit` hits
                    # from there, filtered to `low` below, are the newest `limit` from `low`.
                    answers[k] = cached[1]
                else:
                    ask.append(k)
            if ask:
                # The hits' profiles and persons are what the resolver reads next: in the same round trip.
                answers |= await self._graph(unit, ranges=[(k, _f(low), limit) for k in ask])
                if unit.batch:
                    for k in ask:
                        unit.cache_r[(k, limit)] = (low, answers[k])
            found: dict[tuple[str, str, float, str], None] = {}
            for k in keys:
                got = answers[k]
                pairs = [(m, float(sc)) for m, sc in zip(got[::2], got[1::2], strict=True)]
                for member, score in self._overlaid(unit, k, pairs):
                    if score >= low:
                        profile_key, event_id, text = json.loads(member)
                        found[(profile_key, event_id, score, text)] = None
            rows = sorted(found, key=lambda r: r[2], reverse=True)[:limit]
            return [RecentHit(profile_key=p, event_id=e, at=dt(s), text=t) for p, e, s, t in rows]

    async def prune_recent(self, before: datetime) -> int:
        # Maintenance, straight on committed state: a sweep of every block (and of the index of block
        # names, which would otherwise only grow), off the hot path.
        removed = 0
        cursor = 0
        index = self.key("rc", "blocks")
        while True:
            (page,) = await self._fetch([("sscan", (index, cursor, None, CHUNK))])
            cursor, blocks = int(page[0]), page[1]
            if blocks:
                keys = [index, *(self.key("rc", b) for b in blocks)]
                removed += int(await self._prune(keys=keys, args=["(" + _f(ts(before)), *blocks]))
            if cursor == 0:
                return removed
