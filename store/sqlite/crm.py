"""The CRM push queue and the mapping of Stitch ids to CRM ids."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from core.records import CrmJob, CrmJobStatus
from store.codec import CRM_JOBS, ts
from store.sqlite.connection import SqliteConnection, _qs


class SqliteCrm(SqliteConnection):
    # -- CRM push queue and mapping --------------------------------------------------------------
    async def add_crm_job(self, job: CrmJob) -> bool:
        cur = self.db.execute(
            f"INSERT OR IGNORE INTO crm_jobs({CRM_JOBS.columns}) VALUES ({CRM_JOBS.marks})", CRM_JOBS.row(job)
        )
        return cur.rowcount == 1

    async def claim_crm_jobs(self, now: datetime, lease: timedelta, limit: int) -> list[CrmJob]:
        rows = self.db.execute(
            f"SELECT {CRM_JOBS.columns} FROM crm_jobs WHERE status='queued' AND due_at <= ? ORDER BY seq LIMIT ?",
            (ts(now), limit),
        ).fetchall()
        jobs = [CRM_JOBS.load(r) for r in rows]
        if jobs:
            until = ts(now + lease)
            self.db.execute(
                f"UPDATE crm_jobs SET due_at=? WHERE job_id IN ({_qs(len(jobs))})", (until, *(j.job_id for j in jobs))
            )
        return jobs

    async def put_crm_job(self, job: CrmJob) -> None:
        self.db.execute(
            "UPDATE crm_jobs SET status=?, attempts=?, due_at=?, error=?, payload=? WHERE job_id=?",
            (
                job.status.value,
                job.attempts,
                ts(job.due_at),
                job.error,
                json.dumps(dict(job.payload), ensure_ascii=False),
                job.job_id,
            ),
        )

    async def get_crm_job(self, job_id: str) -> CrmJob | None:
        row = self.db.execute(f"SELECT {CRM_JOBS.columns} FROM crm_jobs WHERE job_id=?", (job_id,)).fetchone()
        return None if row is None else CRM_JOBS.load(row)

    async def crm_jobs(self, status: CrmJobStatus, *, limit: int = 200) -> list[CrmJob]:
        rows = self.db.execute(
            f"SELECT {CRM_JOBS.columns} FROM crm_jobs WHERE status=? ORDER BY seq LIMIT ?", (status.value, limit)
        ).fetchall()
        return [CRM_JOBS.load(r) for r in rows]

    async def crm_job_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM crm_jobs GROUP BY status").fetchall())

    async def set_crm_link(self, entity: str, stitch_id: str, remote_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO crm_links VALUES (?,?,?)", (entity, stitch_id, remote_id))

    async def crm_link(self, entity: str, stitch_id: str) -> int | None:
        row = self.db.execute(
            "SELECT remote_id FROM crm_links WHERE entity=? AND stitch_id=?", (entity, stitch_id)
        ).fetchone()
        return None if row is None else int(row[0])

    async def crm_link_owner(self, entity: str, remote_id: int) -> str | None:
        row = self.db.execute(
            "SELECT stitch_id FROM crm_links WHERE entity=? AND remote_id=? ORDER BY stitch_id LIMIT 1",
            (entity, remote_id),
        ).fetchone()
        return None if row is None else str(row[0])

    async def drop_crm_link(self, entity: str, stitch_id: str) -> None:
        self.db.execute("DELETE FROM crm_links WHERE entity=? AND stitch_id=?", (entity, stitch_id))
