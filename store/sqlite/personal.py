"""One person's data: erasure, retention and small notes for the ops pages."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from core.erasure import Erasure
from core.values import Envelope
from store.codec import blank_evidence, envelope_load, evidence_dump, evidence_load, ts
from store.sqlite.connection import SCRUB_PAUSE_S, SCRUB_TRIES, SqliteConnection, _chunks, _qs, log


class SqlitePersonal(SqliteConnection):
    # -- one person's data -----------------------------------------------------------------------
    async def iter_events(self) -> AsyncIterator[Envelope]:
        cur = self.db.execute("SELECT envelope FROM events ORDER BY seq")
        while rows := cur.fetchmany(1000):
            for (raw,) in rows:
                yield envelope_load(raw)

    async def erase(self, erasure: Erasure) -> None:
        db = self.db
        # Zero what this transaction frees, then rebuild the file: older free pages (a pruned recent
        # entry, a profile row rewritten with a longer name) may still hold the person's bytes.
        db.execute("PRAGMA secure_delete=ON")
        try:
            async with self.atomic():
                self._erase_rows(erasure)
        finally:
            db.execute("PRAGMA secure_delete=OFF")
        self.scrub_files()

    def _erase_rows(self, e: Erasure) -> None:
        db = self.db

        def delete(table: str, column: str, values: Sequence[str]) -> None:
            for chunk in _chunks(values):
                db.execute(f"DELETE FROM {table} WHERE {column} IN ({_qs(len(chunk))})", chunk)

        delete("events", "event_id", e.event_ids)
        delete("messages", "event_id", e.message_ids)
        delete("outbox", "id", e.outbox_ids)
        for table, column in (
            ("profiles", "key"),
            ("identifiers", "profile_key"),
            ("recent", "profile_key"),
            ("profile_words", "profile_key"),
            ("contact_asked", "profile_key"),
            ("messages", "profile_key"),
            ("edges", "a"),
            ("edges", "b"),
        ):
            delete(table, column, e.profile_keys)
        # An identifier marked shared stays marked while another profile still carries it.
        for chunk in _chunks(e.identifier_keys):
            db.execute(
                f"DELETE FROM shared WHERE ident IN ({_qs(len(chunk))})"
                " AND NOT EXISTS (SELECT 1 FROM identifiers i WHERE i.ident = shared.ident)",
                chunk,
            )
        delete("suggestions", "suggestion_id", e.suggestion_ids)
        for chunk in _chunks(e.merge_ids):
            rows = db.execute(
                f"SELECT merge_id, evidence FROM merges WHERE merge_id IN ({_qs(len(chunk))})", chunk
            ).fetchall()
            db.executemany(
                "UPDATE merges SET evidence=? WHERE merge_id=?",
                [(evidence_dump(blank_evidence(evidence_load(raw))), mid) for mid, raw in rows],
            )
        for chunk in _chunks(e.crm_job_ids):
            db.execute(f"UPDATE crm_jobs SET payload='{{}}' WHERE job_id IN ({_qs(len(chunk))})", chunk)
        for chunk in _chunks(e.audit_ids):
            # The target may be a profile key, and a WhatsApp profile is named by its number.
            db.execute(f"UPDATE audit SET detail='', target='' WHERE entry_id IN ({_qs(len(chunk))})", chunk)
        self._cache.clear()

    async def expire(self, before: datetime, *, vacuum: bool = False) -> dict[str, int]:
        db = self.db
        bound = ts(before)
        db.execute("PRAGMA secure_delete=ON")  # the old texts' bytes are zeroed, not just unlinked
        try:
            async with self.atomic():
                counts = {
                    "messages": db.execute(
                        "UPDATE messages SET text='', meta='{}' WHERE sent_at < ? AND (text != '' OR meta != '{}')",
                        (bound,),
                    ).rowcount,
                    "replies": db.execute(
                        "UPDATE outbox SET text='' WHERE created_at < ? AND status != 'queued' AND text != ''",
                        (bound,),
                    ).rowcount,
                    "events": db.execute(
                        "UPDATE events SET envelope=json_set(envelope, '$.payload', json('{}'), '$.lookups', json('{}'))"
                        " WHERE received_at < ? AND status != 'pending' AND json_extract(envelope, '$.payload') != '{}'",
                        (bound,),
                    ).rowcount,
                    "crm_jobs": db.execute(
                        "UPDATE crm_jobs SET payload='{}' WHERE created_at < ? AND status != 'queued' AND payload != '{}'",
                        (bound,),
                    ).rowcount,
                    "recent": db.execute("DELETE FROM recent WHERE at < ?", (bound,)).rowcount,
                }
                self._cache.recent.clear()
        finally:
            db.execute("PRAGMA secure_delete=OFF")
        if vacuum:
            self.scrub_files()
        elif any(counts.values()):
            # The WAL still holds the pages as they were before: empty it when no reader needs it.
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return counts

    async def put_note(self, name: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (f"note:{name}", value))

    async def get_note(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (f"note:{name}",)).fetchone()
        return None if row is None else str(row[0])

    def scrub_files(self) -> bool:
        """Rewrite the file without free pages and empty the WAL; False if a reader kept the WAL busy."""
        db = self.db
        db.execute("VACUUM")
        busy = 1
        for _ in range(SCRUB_TRIES):
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                return True
            time.sleep(SCRUB_PAUSE_S)
        log.warning("sqlite WAL still in use after an erasure; it empties at the next idle checkpoint")
        return False
