"""One person's data: erasure, retention and small notes for the ops pages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from core.erasure import Erasure
from core.errors import StoreError
from core.inbox import search_words
from core.records import CrmJobStatus, EventStatus, OutboxStatus, SuggestionStatus
from core.values import Envelope
from store.codec import blank_evidence, envelope_dump, envelope_load, evidence_dump, evidence_load, ts
from store.redis.connection import CHUNK, RedisConnection, _f


class RedisPersonal(RedisConnection):
    # -- one person's data -----------------------------------------------------------------------
    async def iter_events(self) -> AsyncIterator[Envelope]:
        async for batch in self._scan(self.key("ev", "*")):
            got = await self._fetch([("hget", (k, "envelope")) for k in batch])
            for raw in got:
                if raw:  # `ev:pending` is a sorted set and has no envelope
                    yield envelope_load(raw)

    async def erase(self, erasure: Erasure) -> None:
        # Straight on committed state, like prune_recent: reads first, then one MULTI that removes every
        # key and index entry read. An erasure is an admin action, not a resolver unit.
        e = erasure
        profiles = set(e.profile_keys)
        ops: list[list[str]] = []
        counts: dict[str, int] = {}

        def count(name: str, delta: int = -1) -> None:
            counts[name] = counts.get(name, 0) + delta

        hashes = await self._erase_reads(e)
        for eid, h in zip(e.event_ids, hashes["ev"], strict=True):
            if h:
                ops += [["DEL", self.key("ev", eid)], ["ZREM", self.key("ev", "pending"), eid]]
                count(f"ev:{h.get('status', 'pending')}")
        message_ids = dict.fromkeys(e.message_ids)
        message_ids.update(dict.fromkeys(m for ms in hashes["by"] for m in ms))
        got = await self._fetch([("hgetall", (self.key("msg", m),)) for m in message_ids])
        for mid, h in zip(message_ids, got, strict=True):
            if h:
                ops += [["DEL", self.key("msg", mid)], ["ZREM", self.key("msg", h["direction"]), mid]]
                ops.append(["HDEL", self.key("msg", "ids"), f"{h['channel']}|{h['pmid']}|{h['direction']}"])
                count("messages")
        for oid, h in zip(e.outbox_ids, hashes["ob"], strict=True):
            if h:
                ops += [["DEL", self.key("ob", oid)], ["ZREM", self.key("ob", "of", h["person_id"]), oid]]
                ops += [["ZREM", self.key("ob", "st", h["status"]), oid], ["ZREM", self.key("ob", "failed"), oid]]
                if h.get("pmid"):
                    ops.append(["HDEL", self.key("ob", "pid"), f"{h['channel']}|{h['pmid']}"])
                count(f"ob:{h['status']}")
        orphaned: dict[str, None] = {}
        for key, h, idents, edges in zip(e.profile_keys, hashes["pr"], hashes["pid"], hashes["edge"], strict=True):
            for name in ("pr", "pid", "edge"):
                ops.append(["DEL", self.key(name, key)])
            ops += [["DEL", self.key("msg", "by", key)], ["HDEL", self.key("asked"), key]]
            ops.append(["ZREM", self.key("pr", "all"), key])
            if h:
                ops.append(["ZREM", self.key("pp", h["person_id"]), key])
                ops += [["ZREM", self.key("pw"), f"{w} {key}"] for w in sorted(search_words(h["name"], h["handle"]))]
                count("profiles")
            for ident in idents:
                ops.append(["HDEL", self.key("id", ident), key])
                orphaned[ident] = None
            ops += [["HDEL", self.key("edge", other), key] for other in edges if other not in profiles]
        holders = await self._fetch([("hkeys", (self.key("id", i),)) for i in orphaned])
        for ident, keys in zip(orphaned, holders, strict=True):
            if set(keys) <= profiles:  # no other profile carries it: it is no longer shared by anyone
                ops.append(["HDEL", self.key("shared"), ident])
        ops += await self._erase_recent(profiles)
        for sid, h in zip(e.suggestion_ids, hashes["sg"], strict=True):
            if h:
                pair = self.key("sg", "pair", f"{h['a']}|{h['b']}")
                ops += [["DEL", self.key("sg", sid)], ["ZREM", self.key("sg", "st", h["status"]), sid]]
                ops += [["SREM", self.key("sg", "of", h["a"]), sid], ["SREM", self.key("sg", "of", h["b"]), sid]]
                if h["status"] == SuggestionStatus.PENDING.value:
                    ops.append(["DEL", pair])
                    count("suggestions")
        for mid, raw in zip(e.merge_ids, hashes["mg"], strict=True):
            if raw:
                ops.append(["HSET", self.key("mg", mid), "evidence", evidence_dump(blank_evidence(evidence_load(raw)))])
        ops += [
            ["HSET", self.key("cj", j), "payload", "{}"]
            for j, ok in zip(e.crm_job_ids, hashes["cj"], strict=True)
            if ok
        ]
        ops += [
            ["HSET", self.key("au", a), "detail", "", "target", ""]
            for a, ok in zip(e.audit_ids, hashes["au"], strict=True)
            if ok
        ]
        ops += [["HINCRBY", self.key("counts"), name, str(delta)] for name, delta in counts.items() if delta]
        await self._write(ops)

    async def _erase_reads(self, e: Erasure) -> dict[str, list[Any]]:
        """What erase needs to know of the committed state, per kind, in one round trip."""
        calls: dict[str, list[tuple[str, tuple[Any, ...]]]] = {
            "ev": [("hgetall", (self.key("ev", i),)) for i in e.event_ids],
            "by": [("zrange", (self.key("msg", "by", k), 0, -1)) for k in e.profile_keys],
            "ob": [("hgetall", (self.key("ob", i),)) for i in e.outbox_ids],
            "pr": [("hgetall", (self.key("pr", k),)) for k in e.profile_keys],
            "pid": [("hkeys", (self.key("pid", k),)) for k in e.profile_keys],
            "edge": [("hkeys", (self.key("edge", k),)) for k in e.profile_keys],
            "sg": [("hgetall", (self.key("sg", i),)) for i in e.suggestion_ids],
            "mg": [("hget", (self.key("mg", i), "evidence")) for i in e.merge_ids],
            "cj": [("exists", (self.key("cj", i),)) for i in e.crm_job_ids],
            "au": [("exists", (self.key("au", i),)) for i in e.audit_ids],
        }
        flat = [call for group in calls.values() for call in group]
        got = iter(await self._fetch(flat))
        return {name: [next(got) for _ in group] for name, group in calls.items()}

    async def _erase_recent(self, profiles: set[str]) -> list[list[str]]:
        # Recent entries are indexed by block only; a sweep of every block finds the person's.
        ops: list[list[str]] = []
        index = self.key("rc", "blocks")
        cursor = 0
        while True:
            (page,) = await self._fetch([("sscan", (index, cursor, None, CHUNK))])
            cursor, blocks = int(page[0]), page[1]
            got = await self._fetch([("zrange", (self.key("rc", b), 0, -1)) for b in blocks])
            for block, members in zip(blocks, got, strict=True):
                gone = [m for m in members if json.loads(m)[0] in profiles]
                ops += [["ZREM", self.key("rc", block), m] for m in gone]
                if gone and len(gone) == len(members):
                    ops.append(["SREM", index, block])
            if cursor == 0:
                return ops

    async def expire(self, before: datetime) -> dict[str, int]:
        # Maintenance on committed state, off the hot path: whole indexes are walked in chunks. Plain
        # HSETs are safe here: a stored text, a resolved event's envelope and a finished job's payload
        # never change again, and pending work is skipped.
        bound = ts(before)
        counts = {"messages": 0, "replies": 0, "events": 0, "crm_jobs": 0}
        for direction in ("in", "out"):
            async for ids in self._walk(self.key("msg", direction)):
                got = await self._fetch([("hmget", (self.key("msg", i), ["sent_at", "text", "meta"])) for i in ids])
                old = [
                    i
                    for i, (at, text, meta) in zip(ids, got, strict=True)
                    if at and float(at) < bound and (text or meta != "{}")
                ]
                await self._write([["HSET", self.key("msg", i), "text", "", "meta", "{}"] for i in old])
                counts["messages"] += len(old)
        for sent in (s for s in OutboxStatus if s is not OutboxStatus.QUEUED):
            (ids,) = await self._fetch([("zrangebyscore", (self.key("ob", "st", sent.value), "-inf", f"({_f(bound)}"))])
            got = await self._fetch([("hget", (self.key("ob", i), "text")) for i in ids])
            old = [i for i, text in zip(ids, got, strict=True) if text]
            await self._write([["HSET", self.key("ob", i), "text", ""] for i in old])
            counts["replies"] += len(old)
        async for batch in self._scan(self.key("ev", "*")):
            got = await self._fetch([("hmget", (k, ["envelope", "status"])) for k in batch])
            ops: list[list[str]] = []
            for key, (raw, status) in zip(batch, got, strict=True):
                if not raw or status == EventStatus.PENDING.value:
                    continue
                envelope = envelope_load(raw)
                if envelope.received_at.timestamp() < bound and (envelope.payload or envelope.lookups):
                    ops.append(["HSET", key, "envelope", envelope_dump(replace(envelope, payload={}, lookups={}))])
            await self._write(ops)
            counts["events"] += len(ops)
        for finished in (s for s in CrmJobStatus if s is not CrmJobStatus.QUEUED):
            async for ids in self._walk(self.key("cj", "st", finished.value)):
                got = await self._fetch([("hmget", (self.key("cj", i), ["created_at", "payload"])) for i in ids])
                old = [
                    i
                    for i, (at, payload) in zip(ids, got, strict=True)
                    if at and float(at) < bound and payload not in (None, "{}")
                ]
                await self._write([["HSET", self.key("cj", i), "payload", "{}"] for i in old])
                counts["crm_jobs"] += len(old)
        counts["recent"] = await self.prune_recent(before)
        return counts

    async def put_note(self, name: str, value: str) -> None:
        await self._write([["HSET", self.key("meta"), f"note:{name}", value]])

    async def get_note(self, name: str) -> str | None:
        (value,) = await self._fetch([("hget", (self.key("meta"), f"note:{name}"))])
        return None if value is None else str(value)

    async def _write(self, ops: Sequence[Sequence[str]]) -> None:
        if not ops:
            return
        self.round_trips += 1
        try:
            pipe = self.client.pipeline(transaction=True)
            for op in ops:
                pipe.execute_command(*op)
            await pipe.execute()
        except RedisError as e:
            raise StoreError(f"write failed: {e}") from e
