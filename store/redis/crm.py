"""The CRM push queue and the mapping of Stitch ids to CRM ids."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from core.records import CrmJob, CrmJobStatus
from store.codec import CRM_JOBS, ts
from store.redis.connection import _LOCAL_SEQ, _MISSING, RedisConnection, _f, _Unit


class RedisCrm(RedisConnection):
    # -- CRM push queue and mapping --------------------------------------------------------------
    async def _crm_jobs(self, unit: _Unit, ids: Sequence[str]) -> list[CrmJob]:
        hashes = await self._hashes(unit, [self.key("cj", i) for i in ids])
        return [CRM_JOBS.from_hash(h, job_id=i) for i, h in zip(ids, hashes, strict=True) if h]

    async def add_crm_job(self, job: CrmJob) -> bool:
        async with self._work() as unit:
            key = self.key("cj", job.job_id)
            if not await self._absent(unit, key):
                return False
            self._hset(unit, key, {**CRM_JOBS.to_hash(job, skip=["job_id"]), "seq": _f(unit.next_local())})
            # The job's place in the queue: numbered at commit, kept in the hash for later moves.
            self._zadd_seq(unit, self.key("cj", "st", job.status.value), job.job_id, key)
            if job.status is CrmJobStatus.QUEUED:
                self._zadd(unit, self.key("cj", "due"), job.job_id, ts(job.due_at))
            self._count(unit, f"cj:{job.status.value}", 1)
            return True

    async def claim_crm_jobs(self, now: datetime, lease: timedelta, limit: int) -> list[CrmJob]:
        if limit <= 0:
            return []
        async with self._work() as unit:
            due_key, queued_key = self.key("cj", "due"), self.key("cj", "st", CrmJobStatus.QUEUED.value)
            at = ts(now)
            # The due set holds queued jobs only and a running worker keeps its due part short; after
            # an outage the backlog is read as ids and scores, and only `limit` hashes are fetched.
            (got,) = await self._fetch([("zrangebyscore", (due_key, "-inf", _f(at), None, None, True))])
            due = [m for m, s in self._overlaid(unit, due_key, [(m, float(s)) for m, s in got]) if s <= at]
            if not due:
                return []
            (seqs,) = await self._fetch([("zmscore", (queued_key, due))])
            over = unit.zsets.get(queued_key, {})
            order: list[tuple[float, str]] = []
            for job_id, seq in zip(due, seqs, strict=True):
                mine = over.get(job_id, _MISSING)
                seq = seq if mine is _MISSING else mine
                if seq is not None:
                    order.append((float(seq), job_id))
            jobs = await self._crm_jobs(unit, [i for _, i in sorted(order)[:limit]])
            until = _f(ts(now + lease))
            for job in jobs:
                key = self.key("cj", job.job_id)
                # Two workers claiming the same job: the second commit finds the lease moved and re-runs.
                unit.check("HGET", key, "due_at", unit.cache_h[key].get("due_at", ""))
                self._hset(unit, key, {"due_at": until})
                self._zadd(unit, due_key, job.job_id, float(until))
            return jobs

    async def put_crm_job(self, job: CrmJob) -> None:
        async with self._work() as unit:
            key = self.key("cj", job.job_id)
            h = await self._hash(unit, key)
            if not h:
                return
            old = h["status"]
            if old != job.status.value:
                self._count(unit, f"cj:{old}", -1)
                self._count(unit, f"cj:{job.status.value}", 1)
                self._zrem(unit, self.key("cj", "st", old), job.job_id)
                seq = float(h["seq"])
                if seq >= _LOCAL_SEQ:  # enqueued in this very unit: not numbered yet
                    self._zadd_seq(unit, self.key("cj", "st", job.status.value), job.job_id, key)
                else:
                    self._zadd(unit, self.key("cj", "st", job.status.value), job.job_id, seq)
            if job.status is CrmJobStatus.QUEUED:
                self._zadd(unit, self.key("cj", "due"), job.job_id, ts(job.due_at))
            elif old == CrmJobStatus.QUEUED.value:
                self._zrem(unit, self.key("cj", "due"), job.job_id)
            self._hset(
                unit,
                key,
                {
                    "status": job.status.value,
                    "attempts": str(job.attempts),
                    "due_at": _f(ts(job.due_at)),
                    "error": job.error,
                    "payload": json.dumps(dict(job.payload), ensure_ascii=False),
                },
            )

    async def get_crm_job(self, job_id: str) -> CrmJob | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("cj", job_id))
            return CRM_JOBS.from_hash(h, job_id=job_id) if h else None

    async def crm_jobs(self, status: CrmJobStatus, *, limit: int = 200) -> list[CrmJob]:
        async with self._work() as unit:
            (rows,) = await self._tops(unit, [self.key("cj", "st", status.value)], limit, desc=False)
            return await self._crm_jobs(unit, [m for m, _ in rows])

    async def crm_job_counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            return {f[3:]: n for f, n in counts.items() if f.startswith("cj:") and n > 0}

    async def set_crm_link(self, entity: str, stitch_id: str, remote_id: int) -> None:
        async with self._work() as unit:
            key = self.key("lk", entity)
            (old,) = await self._fields(unit, key, [stitch_id])
            if old == str(remote_id):
                return
            if old is not None:
                self._srem(unit, self.key("lk", "of", entity, old), stitch_id)
            self._hset(unit, key, {stitch_id: str(remote_id)})
            self._sadd(unit, self.key("lk", "of", entity, str(remote_id)), stitch_id)

    async def crm_link(self, entity: str, stitch_id: str) -> int | None:
        async with self._work() as unit:
            (remote,) = await self._fields(unit, self.key("lk", entity), [stitch_id])
            return None if remote is None else int(remote)

    async def crm_link_owner(self, entity: str, remote_id: int) -> str | None:
        async with self._work() as unit:
            (owners,) = await self._members(unit, [self.key("lk", "of", entity, str(remote_id))])
            return min(owners) if owners else None

    async def drop_crm_link(self, entity: str, stitch_id: str) -> None:
        async with self._work() as unit:
            key = self.key("lk", entity)
            (old,) = await self._fields(unit, key, [stitch_id])
            if old is None:
                return
            self._hset(unit, key, {stitch_id: None})
            self._srem(unit, self.key("lk", "of", entity, old), stitch_id)
