"""Leads: one customer inquiry each, folded and restored with merges and splits."""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from core.records import Lead
from store.codec import LEADS
from store.sqlite.connection import SqliteConnection, _qs


class SqliteLeads(SqliteConnection):
    # -- leads -----------------------------------------------------------------------------------
    async def add_lead(self, lead: Lead) -> None:
        await self.put_lead(lead)

    async def put_lead(self, lead: Lead) -> None:
        self.db.execute(f"INSERT OR REPLACE INTO leads({LEADS.columns}) VALUES ({LEADS.marks})", LEADS.row(lead))
        cache = self._cache
        home = cache.lead_home.pop(lead.lead_id, None)
        if home is not None:
            cache.leads[home] = [old for old in cache.leads.get(home, ()) if old.lead_id != lead.lead_id]
        if (held := cache.leads.get(lead.person_id)) is not None:
            bisect.insort(held, lead, key=_created)
            cache.lead_home[lead.lead_id] = lead.person_id

    async def get_lead(self, lead_id: str) -> Lead | None:
        row = self.db.execute(f"SELECT {LEADS.columns} FROM leads WHERE lead_id=?", (lead_id,)).fetchone()
        return None if row is None else LEADS.load(row)

    async def leads_of(self, person_ids: Sequence[str]) -> list[Lead]:
        if not person_ids:
            return []
        if not self._depth:
            return self._select_leads(person_ids)
        cache = self._cache
        if missing := [p for p in dict.fromkeys(person_ids) if p not in cache.leads]:
            for person_id in missing:
                cache.leads[person_id] = []
            for lead in self._select_leads(missing):
                cache.leads[lead.person_id].append(lead)
                cache.lead_home[lead.lead_id] = lead.person_id
        held = [lead for p in dict.fromkeys(person_ids) for lead in cache.leads[p]]
        return held if len(person_ids) == 1 else sorted(held, key=_created)

    def _select_leads(self, person_ids: Sequence[str]) -> list[Lead]:
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


def _created(lead: Lead) -> datetime:
    return lead.created_at
