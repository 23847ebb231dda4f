"""Leads: one customer inquiry each, folded and restored with merges and splits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from core.records import Lead, LeadStatus
from core.values import Channel
from store.codec import dt, ts
from store.sqlite.connection import SqliteConnection, _qs


class SqliteLeads(SqliteConnection):
    # -- leads -----------------------------------------------------------------------------------
    _LEAD_COLUMNS = (
        "lead_id, person_id, status, is_repeat, created_at, last_activity, channel, responsible, junk_reason,"
        " merged_into, merged_by"
    )

    @staticmethod
    def _lead(r: Sequence[Any]) -> Lead:
        return Lead(
            lead_id=r[0],
            person_id=r[1],
            status=LeadStatus(r[2]),
            is_repeat=bool(r[3]),
            created_at=dt(r[4]),
            last_activity=dt(r[5]),
            channel=Channel(r[6]),
            responsible=r[7],
            junk_reason=r[8],
            merged_into=r[9],
            merged_by=r[10],
        )

    async def add_lead(self, lead: Lead) -> None:
        await self.put_lead(lead)

    async def put_lead(self, lead: Lead) -> None:
        self.db.execute(
            f"INSERT OR REPLACE INTO leads({self._LEAD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                lead.lead_id,
                lead.person_id,
                lead.status.value,
                int(lead.is_repeat),
                ts(lead.created_at),
                ts(lead.last_activity),
                lead.channel.value,
                lead.responsible,
                lead.junk_reason,
                lead.merged_into,
                lead.merged_by,
            ),
        )

    async def get_lead(self, lead_id: str) -> Lead | None:
        row = self.db.execute(f"SELECT {self._LEAD_COLUMNS} FROM leads WHERE lead_id=?", (lead_id,)).fetchone()
        return None if row is None else self._lead(row)

    async def leads_of(self, person_ids: Sequence[str]) -> list[Lead]:
        if not person_ids:
            return []
        rows = self.db.execute(
            f"SELECT {self._LEAD_COLUMNS} FROM leads WHERE person_id IN ({_qs(len(person_ids))}) ORDER BY created_at",
            tuple(person_ids),
        ).fetchall()
        return [self._lead(r) for r in rows]

    async def leads_merged_by(self, merge_id: str) -> list[Lead]:
        rows = self.db.execute(f"SELECT {self._LEAD_COLUMNS} FROM leads WHERE merged_by=?", (merge_id,)).fetchall()
        return [self._lead(r) for r in rows]

    async def iter_leads(self) -> AsyncIterator[Lead]:
        cur = self.db.execute(f"SELECT {self._LEAD_COLUMNS} FROM leads ORDER BY created_at")
        while rows := cur.fetchmany(1000):
            for row in rows:
                yield self._lead(row)
