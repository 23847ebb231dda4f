"""Leads: one customer inquiry each, folded and restored with merges and splits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from core.records import Lead
from store.codec import LEADS
from store.sqlite.connection import SqliteConnection, _qs


class SqliteLeads(SqliteConnection):
    # -- leads -----------------------------------------------------------------------------------
    async def add_lead(self, lead: Lead) -> None:
        await self.put_lead(lead)

    async def put_lead(self, lead: Lead) -> None:
        self.db.execute(f"INSERT OR REPLACE INTO leads({LEADS.columns}) VALUES ({LEADS.marks})", LEADS.row(lead))

    async def get_lead(self, lead_id: str) -> Lead | None:
        row = self.db.execute(f"SELECT {LEADS.columns} FROM leads WHERE lead_id=?", (lead_id,)).fetchone()
        return None if row is None else LEADS.load(row)

    async def leads_of(self, person_ids: Sequence[str]) -> list[Lead]:
        if not person_ids:
            return []
        rows = self.db.execute(
            f"SELECT {LEADS.columns} FROM leads WHERE person_id IN ({_qs(len(person_ids))}) ORDER BY created_at",
            tuple(person_ids),
        ).fetchall()
        return [LEADS.load(r) for r in rows]

    async def leads_merged_by(self, merge_id: str) -> list[Lead]:
        rows = self.db.execute(f"SELECT {LEADS.columns} FROM leads WHERE merged_by=?", (merge_id,)).fetchall()
        return [LEADS.load(r) for r in rows]

    async def iter_leads(self) -> AsyncIterator[Lead]:
        cur = self.db.execute(f"SELECT {LEADS.columns} FROM leads ORDER BY created_at")
        while rows := cur.fetchmany(1000):
            for row in rows:
                yield LEADS.load(row)
