"""The identity graph: profiles, identifiers, persons and the recent-message blocking index."""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from core.inbox import search_words
from core.records import Evidence, Person, Profile, RecentHit
from core.values import Identifier, IdKind, Provenance
from store.codec import PERSONS, PROFILES, dt, evidence_dump, evidence_load, ts
from store.sqlite.connection import SqliteConnection, _qs


class SqliteGraph(SqliteConnection):
    # -- profiles and identifiers ----------------------------------------------------------------
    async def get_profiles(self, keys: Sequence[str]) -> dict[str, Profile]:
        if not keys:
            return {}
        cache = self._cache.profiles if self._depth else None
        missing = [k for k in keys if k not in cache] if cache is not None else list(keys)
        found: dict[str, Profile] = {}
        if missing:
            rows = self.db.execute(
                f"SELECT {PROFILES.columns} FROM profiles WHERE key IN ({_qs(len(missing))})", tuple(missing)
            ).fetchall()
            found = {r[0]: PROFILES.load(r) for r in rows}
            if cache is not None:
                cache.update((k, found.get(k)) for k in missing)
        if cache is None:
            return found
        return {k: p for k in keys if (p := cache[k]) is not None}

    async def put_profile(self, profile: Profile) -> None:
        old = (await self.get_profiles([profile.key])).get(profile.key)
        self._cache.profiles[profile.key] = profile
        if old is not None and replace(old, last_seen=profile.last_seen) == profile:
            # Most writes only move last_seen: no index but the row's own changes.
            self.db.execute("UPDATE profiles SET last_seen=? WHERE key=?", (ts(profile.last_seen), profile.key))
            return
        self._cache.forget_keys_of(profile.person_id, old.person_id if old else None)
        if old is None or (old.name, old.handle) != (profile.name, profile.handle):
            # Only a new or renamed profile touches the name index.
            if old is not None:
                self.db.execute("DELETE FROM profile_words WHERE profile_key=?", (profile.key,))
            self.db.executemany(
                "INSERT OR IGNORE INTO profile_words VALUES (?,?)",
                [(w, profile.key) for w in search_words(profile.name, profile.handle)],
            )
        self.db.execute(
            f"INSERT OR REPLACE INTO profiles({PROFILES.columns}) VALUES ({PROFILES.marks})", PROFILES.row(profile)
        )

    async def iter_profiles(self) -> AsyncIterator[Profile]:
        cur = self.db.execute(f"SELECT {PROFILES.columns} FROM profiles ORDER BY first_seen")
        while rows := cur.fetchmany(1000):
            for r in rows:
                yield PROFILES.load(r)

    async def link_identifier(self, profile_key: str, identifier: Identifier) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO identifiers(ident, profile_key, provenance) VALUES (?,?,?)",
            (identifier.key, profile_key, identifier.provenance.value),
        )

    async def identifiers_of(self, profile_keys: Sequence[str]) -> dict[str, list[Identifier]]:
        out: dict[str, list[Identifier]] = {k: [] for k in profile_keys}
        if not profile_keys:
            return out
        rows = self.db.execute(
            f"SELECT profile_key, ident, provenance FROM identifiers WHERE profile_key IN ({_qs(len(profile_keys))})",
            tuple(profile_keys),
        ).fetchall()
        for key, ident, provenance in rows:
            kind, _, value = ident.partition(":")
            out[key].append(Identifier(kind=IdKind(kind), value=value, provenance=Provenance(provenance)))
        return out

    async def profiles_by_identifier(self, identifier_keys: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {k: [] for k in identifier_keys}
        if not identifier_keys:
            return out
        rows = self.db.execute(
            f"SELECT ident, profile_key FROM identifiers WHERE ident IN ({_qs(len(identifier_keys))})",
            tuple(identifier_keys),
        ).fetchall()
        for ident, key in rows:
            out[ident].append(key)
        return out

    async def mark_shared(self, identifier_key: str, reason: str, at: datetime) -> None:
        self.db.execute("INSERT OR IGNORE INTO shared VALUES (?,?,?)", (identifier_key, reason, ts(at)))

    async def shared_among(self, identifier_keys: Sequence[str]) -> set[str]:
        if not identifier_keys:
            return set()
        rows = self.db.execute(
            f"SELECT ident FROM shared WHERE ident IN ({_qs(len(identifier_keys))})", tuple(identifier_keys)
        ).fetchall()
        return {r[0] for r in rows}

    async def list_shared(self) -> list[tuple[str, str, datetime]]:
        rows = self.db.execute("SELECT ident, reason, since FROM shared ORDER BY since DESC").fetchall()
        return [(r[0], r[1], dt(r[2])) for r in rows]

    async def add_edge(self, a: str, b: str, score: float, evidence: Sequence[Evidence], at: datetime) -> None:
        a, b = min(a, b), max(a, b)
        self.db.execute(
            "INSERT OR REPLACE INTO edges VALUES (?,?,?,?,?)", (a, b, score, evidence_dump(evidence), ts(at))
        )

    async def edges_of(self, profile_keys: Sequence[str]) -> list[tuple[str, str, float, list[Evidence]]]:
        if not profile_keys:
            return []
        marks = _qs(len(profile_keys))
        rows = self.db.execute(
            f"SELECT a, b, score, evidence FROM edges WHERE a IN ({marks}) UNION"
            f" SELECT a, b, score, evidence FROM edges WHERE b IN ({marks})",
            (*profile_keys, *profile_keys),
        ).fetchall()
        return [(r[0], r[1], r[2], list(evidence_load(r[3]))) for r in rows]

    # -- persons ---------------------------------------------------------------------------------
    async def add_person(self, person: Person) -> None:
        self._cache.persons[person.person_id] = person
        self._cache.children[person.person_id] = []  # nobody is merged into a new person yet
        if person.merged_into is not None:
            self._cache.children.pop(person.merged_into, None)
        self.db.execute(f"INSERT INTO persons({PERSONS.columns}) VALUES ({PERSONS.marks})", PERSONS.row(person))

    async def get_person(self, person_id: str) -> Person | None:
        cache = self._cache.persons
        if self._depth and person_id in cache:
            return cache[person_id]
        row = self.db.execute(f"SELECT {PERSONS.columns} FROM persons WHERE person_id=?", (person_id,)).fetchone()
        person = None if row is None else PERSONS.load(row)
        if self._depth:
            cache[person_id] = person
        return person

    async def update_person(
        self, person_id: str, *, display_name: str | None = None, responsible: str | None = None
    ) -> None:
        self._cache.persons.pop(person_id, None)
        if display_name is not None:
            self.db.execute("UPDATE persons SET display_name=? WHERE person_id=?", (display_name, person_id))
        if responsible is not None:
            self.db.execute("UPDATE persons SET responsible=? WHERE person_id=?", (responsible, person_id))

    async def set_merged_into(self, person_id: str, into: str | None) -> None:
        before = await self.get_person(person_id)
        self._cache.persons.pop(person_id, None)
        for parent in (before.merged_into if before else None, into):
            if parent is not None:
                self._cache.children.pop(parent, None)
        self.db.execute("UPDATE persons SET merged_into=? WHERE person_id=?", (into, person_id))

    async def children_of(self, person_ids: Sequence[str]) -> list[str]:
        if not person_ids:
            return []
        if not self._depth:
            rows = self.db.execute(
                f"SELECT person_id FROM persons WHERE merged_into IN ({_qs(len(person_ids))})", tuple(person_ids)
            ).fetchall()
            return [r[0] for r in rows]
        cache = self._cache.children
        self._fill(cache, person_ids, "SELECT merged_into, person_id FROM persons WHERE merged_into IN ({0})")
        return [child for p in person_ids for child in cache[p]]

    async def profile_keys_of(self, person_ids: Sequence[str]) -> list[str]:
        if not person_ids:
            return []
        if not self._depth:
            rows = self.db.execute(
                f"SELECT key FROM profiles WHERE person_id IN ({_qs(len(person_ids))}) ORDER BY first_seen",
                tuple(person_ids),
            ).fetchall()
            return [r[0] for r in rows]
        cache = self._cache.keys_of
        self._fill(cache, person_ids, "SELECT person_id, first_seen, key FROM profiles WHERE person_id IN ({0})")
        return [key for _, key in sorted(entry for p in dict.fromkeys(person_ids) for entry in cache[p])]

    async def iter_persons(self) -> AsyncIterator[Person]:
        cur = self.db.execute(f"SELECT {PERSONS.columns} FROM persons ORDER BY created_at")
        while rows := cur.fetchmany(1000):
            for row in rows:
                yield PERSONS.load(row)

    async def counts(self) -> dict[str, int]:
        one = self.db.execute
        return {
            "persons": one("SELECT count(*) FROM persons WHERE merged_into IS NULL").fetchone()[0],
            "profiles": one("SELECT count(*) FROM profiles").fetchone()[0],
            "merges": one("SELECT count(*) FROM merges WHERE kind != 'split' AND undone_by IS NULL").fetchone()[0],
            "suggestions": one("SELECT count(*) FROM suggestions WHERE status='pending'").fetchone()[0],
            "leads": one("SELECT count(*) FROM leads WHERE merged_into IS NULL").fetchone()[0],
            "messages": one("SELECT count(*) FROM messages").fetchone()[0],
        }

    # -- recent ----------------------------------------------------------------------------------
    async def add_recent(self, blocks: Iterable[str], hit: RecentHit) -> None:
        keys = list(blocks)
        at = ts(hit.at)
        self.db.executemany(
            "INSERT INTO recent VALUES (?,?,?,?,?)",
            [(block, at, hit.profile_key, hit.event_id, hit.text) for block in keys],
        )
        cache = self._cache.recent
        for block in keys:
            held = cache.get(block)
            if held is None or at < held[0]:
                continue
            hits = held[1]
            if hits and hits[-1].at > hit.at:  # a late delivery: keep the block in time order
                bisect.insort(hits, hit, key=_when)
            else:
                hits.append(hit)

    async def recent(self, blocks: Iterable[str], since: datetime, limit: int) -> list[RecentHit]:
        keys = list(dict.fromkeys(blocks))
        if not keys:
            return []
        low = ts(since)
        if not self._depth:
            rows = self.db.execute(
                f"SELECT DISTINCT profile_key, event_id, at, text FROM recent WHERE block IN ({_qs(len(keys))})"
                " AND at >= ? ORDER BY at DESC LIMIT ?",
                (*keys, low, limit),
            ).fetchall()
            return [RecentHit(profile_key=r[0], event_id=r[1], at=dt(r[2]), text=r[3]) for r in rows]
        cache = self._cache.recent
        # A block is read once from the earliest bound asked, then kept current by `add_recent`.
        if missing := [k for k in keys if k not in cache or cache[k][0] > low]:
            for block in missing:
                cache[block] = (low, [])
            rows = self.db.execute(
                f"SELECT block, profile_key, event_id, at, text FROM recent WHERE block IN ({_qs(len(missing))})"
                " AND at >= ? ORDER BY at",
                (*missing, low),
            ).fetchall()
            for block, key, event_id, at, text in rows:
                cache[block][1].append(RecentHit(profile_key=key, event_id=event_id, at=dt(at), text=text))
        # The newest `limit` of each block hold the newest `limit` of all blocks together.
        found: dict[tuple[str, str, datetime, str], RecentHit] = {}
        for block in keys:
            for hit in reversed(cache[block][1][-limit:]):
                if hit.at < since:
                    break
                found.setdefault((hit.profile_key, hit.event_id, hit.at, hit.text), hit)
        return sorted(found.values(), key=_when, reverse=True)[:limit]

    async def prune_recent(self, before: datetime) -> int:
        self._cache.recent.clear()
        return self.db.execute("DELETE FROM recent WHERE at < ?", (ts(before),)).rowcount


def _when(hit: RecentHit) -> datetime:
    return hit.at
