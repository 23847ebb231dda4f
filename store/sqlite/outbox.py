"""The outbox: managers' replies and their delivery state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.records import OutboxItem
from store.codec import OUTBOX, ts
from store.sqlite.connection import SqliteConnection, _qs


class SqliteOutbox(SqliteConnection):
    # -- outbox ----------------------------------------------------------------------------------
    async def add_outbox(self, item: OutboxItem) -> None:
        self.db.execute(f"INSERT INTO outbox({OUTBOX.columns}) VALUES ({OUTBOX.marks})", OUTBOX.row(item))

    async def put_outbox(self, item: OutboxItem) -> None:
        self.db.execute(f"INSERT OR REPLACE INTO outbox({OUTBOX.columns}) VALUES ({OUTBOX.marks})", OUTBOX.row(item))

    async def get_outbox(self, item_id: str) -> OutboxItem | None:
        row = self.db.execute(f"SELECT {OUTBOX.columns} FROM outbox WHERE id=?", (item_id,)).fetchone()
        return None if row is None else OUTBOX.load(row)

    async def outbox_by_provider_id(self, channel: str, provider_message_id: str) -> OutboxItem | None:
        if not provider_message_id:
            return None
        row = self.db.execute(
            f"SELECT {OUTBOX.columns} FROM outbox WHERE channel=? AND provider_message_id=?",
            (channel, provider_message_id),
        ).fetchone()
        return None if row is None else OUTBOX.load(row)

    async def outbox_queued(self, before: datetime, limit: int) -> list[OutboxItem]:
        rows = self.db.execute(
            f"SELECT {OUTBOX.columns} FROM outbox WHERE status='queued' AND created_at < ? ORDER BY created_at LIMIT ?",
            (ts(before), limit),
        ).fetchall()
        return [OUTBOX.load(r) for r in rows]

    async def outbox_of(self, person_ids: Sequence[str], *, limit: int = 200) -> list[OutboxItem]:
        if not person_ids:
            return []
        rows = self.db.execute(
            f"SELECT {OUTBOX.columns} FROM outbox WHERE person_id IN ({_qs(len(person_ids))})"
            " ORDER BY created_at DESC LIMIT ?",
            (*person_ids, limit),
        ).fetchall()
        return [OUTBOX.load(r) for r in rows]

    async def mark_contact_asked(self, profile_key: str, at: datetime) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO contact_asked VALUES (?,?)", (profile_key, ts(at)))
        return cur.rowcount == 1

    async def outbox_failed(self, limit: int) -> list[OutboxItem]:
        rows = self.db.execute(
            f"SELECT {OUTBOX.columns} FROM outbox WHERE status='failed' ORDER BY updated_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [OUTBOX.load(r) for r in rows]
