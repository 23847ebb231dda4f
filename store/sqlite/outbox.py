"""The outbox: managers' replies and their delivery state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.records import OutboxItem, OutboxStatus
from core.values import Channel
from store.codec import dt, ts
from store.sqlite.connection import SqliteConnection, _qs


class SqliteOutbox(SqliteConnection):
    # -- outbox ----------------------------------------------------------------------------------
    _OUTBOX_COLUMNS = (
        "id, person_id, profile_key, channel, text, status, created_at, updated_at, actor, attempts, error,"
        " provider_message_id"
    )

    @staticmethod
    def _outbox(r: Sequence[Any]) -> OutboxItem:
        return OutboxItem(
            id=r[0],
            person_id=r[1],
            profile_key=r[2],
            channel=Channel(r[3]),
            text=r[4],
            status=OutboxStatus(r[5]),
            created_at=dt(r[6]),
            updated_at=dt(r[7]),
            actor=r[8],
            attempts=r[9],
            error=r[10],
            provider_message_id=r[11],
        )

    def _outbox_row(self, item: OutboxItem) -> tuple[Any, ...]:
        return (
            item.id,
            item.person_id,
            item.profile_key,
            item.channel.value,
            item.text,
            item.status.value,
            ts(item.created_at),
            ts(item.updated_at),
            item.actor,
            item.attempts,
            item.error,
            item.provider_message_id,
        )

    async def add_outbox(self, item: OutboxItem) -> None:
        self.db.execute(f"INSERT INTO outbox({self._OUTBOX_COLUMNS}) VALUES ({_qs(12)})", self._outbox_row(item))

    async def put_outbox(self, item: OutboxItem) -> None:
        self.db.execute(
            f"INSERT OR REPLACE INTO outbox({self._OUTBOX_COLUMNS}) VALUES ({_qs(12)})", self._outbox_row(item)
        )

    async def get_outbox(self, item_id: str) -> OutboxItem | None:
        row = self.db.execute(f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE id=?", (item_id,)).fetchone()
        return None if row is None else self._outbox(row)

    async def outbox_by_provider_id(self, channel: str, provider_message_id: str) -> OutboxItem | None:
        if not provider_message_id:
            return None
        row = self.db.execute(
            f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE channel=? AND provider_message_id=?",
            (channel, provider_message_id),
        ).fetchone()
        return None if row is None else self._outbox(row)

    async def outbox_queued(self, before: datetime, limit: int) -> list[OutboxItem]:
        rows = self.db.execute(
            f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE status='queued' AND created_at < ?"
            " ORDER BY created_at LIMIT ?",
            (ts(before), limit),
        ).fetchall()
        return [self._outbox(r) for r in rows]

    async def outbox_of(self, person_ids: Sequence[str], *, limit: int = 200) -> list[OutboxItem]:
        if not person_ids:
            return []
        rows = self.db.execute(
            f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE person_id IN ({_qs(len(person_ids))})"
            " ORDER BY created_at DESC LIMIT ?",
            (*person_ids, limit),
        ).fetchall()
        return [self._outbox(r) for r in rows]

    async def mark_contact_asked(self, profile_key: str, at: datetime) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO contact_asked VALUES (?,?)", (profile_key, ts(at)))
        return cur.rowcount == 1

    async def outbox_failed(self, limit: int) -> list[OutboxItem]:
        rows = self.db.execute(
            f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE status='failed' ORDER BY updated_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [self._outbox(r) for r in rows]
