"""Intake: raw events (the durable inbox) and the messages resolved from them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from core.records import EventStatus, ParkedEvent, StoredMessage
from core.values import Envelope
from store.codec import MESSAGES, dt, envelope_dump, envelope_load, ts
from store.sqlite.connection import SqliteConnection, _qs


class SqliteEvents(SqliteConnection):
    # -- events ----------------------------------------------------------------------------------
    async def add_event(self, envelope: Envelope) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO events(event_id, channel, received_at, envelope, status) VALUES (?,?,?,?,?)",
            (
                envelope.id,
                envelope.channel.value,
                ts(envelope.received_at),
                envelope_dump(envelope),
                "pending",
            ),
        )
        return cur.rowcount == 1

    async def get_event(self, event_id: str) -> Envelope | None:
        row = self.db.execute("SELECT envelope FROM events WHERE event_id=?", (event_id,)).fetchone()
        return None if row is None else envelope_load(row[0])

    async def event_status(self, event_id: str) -> EventStatus | None:
        row = self.db.execute("SELECT status FROM events WHERE event_id=?", (event_id,)).fetchone()
        return None if row is None else EventStatus(row[0])

    async def finish_event(self, event_id: str, status: EventStatus, reason: str = "") -> None:
        self.db.execute("UPDATE events SET status=?, reason=? WHERE event_id=?", (status.value, reason, event_id))

    async def pending_events(self, limit: int) -> list[Envelope]:
        rows = self.db.execute(
            "SELECT envelope FROM events WHERE status='pending' ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [envelope_load(r[0]) for r in rows]

    async def event_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM events GROUP BY status").fetchall())

    async def count_events(self, status: EventStatus) -> int:
        # The status is written into the statement: only a literal lets SQLite use the partial
        # index of pending (or failed) events instead of reading the whole table.
        row = self.db.execute(f"SELECT count(*) FROM events WHERE status='{EventStatus(status).value}'").fetchone()
        return int(row[0])

    async def park_event(self, event_id: str, reason: str, attempts: int) -> bool:
        cur = self.db.execute(
            "UPDATE events SET status='failed', reason=?, attempts=attempts+? WHERE event_id=? AND status='pending'",
            (reason, attempts, event_id),
        )
        return cur.rowcount == 1

    async def unpark_event(self, event_id: str) -> bool:
        cur = self.db.execute(
            "UPDATE events SET status='pending', reason='' WHERE event_id=? AND status='failed'", (event_id,)
        )
        return cur.rowcount == 1

    async def parked_events(self, limit: int) -> list[ParkedEvent]:
        rows = self.db.execute(
            "SELECT event_id, channel, received_at, attempts, reason FROM events WHERE status='failed'"
            " ORDER BY received_at, seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            ParkedEvent(event_id=r[0], channel=r[1], received_at=dt(r[2]), attempts=r[3], reason=r[4]) for r in rows
        ]

    # -- messages --------------------------------------------------------------------------------
    async def message_seen(self, channel: str, provider_message_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM messages WHERE channel=? AND provider_message_id=? AND direction='in'",
            (channel, provider_message_id),
        ).fetchone()
        return row is not None

    async def add_message(self, message: StoredMessage) -> None:
        self.db.execute(f"INSERT INTO messages({MESSAGES.columns}) VALUES ({MESSAGES.marks})", MESSAGES.row(message))

    async def messages_of(
        self, profile_keys: Sequence[str], *, limit: int = 200, before: datetime | None = None
    ) -> list[StoredMessage]:
        if not profile_keys:
            return []
        bound = ts(before) if before else float("inf")
        rows = self.db.execute(
            f"SELECT {MESSAGES.columns} FROM messages WHERE profile_key IN ({_qs(len(profile_keys))})"
            " AND sent_at < ? ORDER BY sent_at DESC, seq DESC LIMIT ?",
            (*profile_keys, bound, limit),
        ).fetchall()
        return [MESSAGES.load(r) for r in rows]

    async def relead_messages(self, profile_keys: Sequence[str], from_lead: str, to_lead: str) -> None:
        if profile_keys:
            self.db.execute(
                f"UPDATE messages SET lead_id=? WHERE lead_id=? AND profile_key IN ({_qs(len(profile_keys))})",
                (to_lead, from_lead, *profile_keys),
            )

    async def iter_messages(self) -> AsyncIterator[StoredMessage]:
        cur = self.db.execute(f"SELECT {MESSAGES.columns} FROM messages WHERE direction='in' ORDER BY seq")
        while rows := cur.fetchmany(1000):
            for row in rows:
                yield MESSAGES.load(row)
