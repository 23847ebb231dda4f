"""Merges, suggestions and "not the same person" marks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.records import MergeKind, MergeRecord, Suggestion, SuggestionStatus
from store.codec import dt, evidence_dump, evidence_load, ts
from store.sqlite.connection import SqliteConnection, _qs


class SqliteMerges(SqliteConnection):
    # -- merges, suggestions, cannot-links -------------------------------------------------------
    async def add_merge(self, record: MergeRecord) -> None:
        self.db.execute(
            "INSERT INTO merges(merge_id, at, kind, into_id, from_id, evidence, actor, undone_by, undoes)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (
                record.merge_id,
                ts(record.at),
                record.kind.value,
                record.into,
                record.from_,
                evidence_dump(record.evidence),
                record.actor,
                record.undone_by,
                record.undoes,
            ),
        )

    @staticmethod
    def _merge(r: Sequence[Any]) -> MergeRecord:
        return MergeRecord(
            merge_id=r[0],
            at=dt(r[1]),
            kind=MergeKind(r[2]),
            into=r[3],
            from_=r[4],
            evidence=evidence_load(r[5]),
            actor=r[6],
            undone_by=r[7],
            undoes=r[8],
        )

    _MERGE_COLUMNS = "merge_id, at, kind, into_id, from_id, evidence, actor, undone_by, undoes"

    async def get_merge(self, merge_id: str) -> MergeRecord | None:
        row = self.db.execute(f"SELECT {self._MERGE_COLUMNS} FROM merges WHERE merge_id=?", (merge_id,)).fetchone()
        return None if row is None else self._merge(row)

    async def set_merge_undone(self, merge_id: str, by: str) -> None:
        self.db.execute("UPDATE merges SET undone_by=? WHERE merge_id=?", (by, merge_id))

    async def merges(self, *, limit: int | None = None) -> list[MergeRecord]:
        rows = self.db.execute(
            f"SELECT {self._MERGE_COLUMNS} FROM merges ORDER BY seq DESC LIMIT ?", (limit or -1,)
        ).fetchall()
        return [self._merge(r) for r in rows]

    async def add_suggestion(self, suggestion: Suggestion) -> bool:
        a, b = sorted((suggestion.a, suggestion.b))
        cur = self.db.execute(
            "INSERT OR IGNORE INTO suggestions VALUES (?,?,?,?,?,?,?)",
            (
                suggestion.suggestion_id,
                a,
                b,
                suggestion.score,
                evidence_dump(suggestion.evidence),
                ts(suggestion.created_at),
                suggestion.status.value,
            ),
        )
        return cur.rowcount == 1

    @staticmethod
    def _suggestion(r: Sequence[Any]) -> Suggestion:
        return Suggestion(
            suggestion_id=r[0],
            a=r[1],
            b=r[2],
            score=r[3],
            evidence=evidence_load(r[4]),
            created_at=dt(r[5]),
            status=SuggestionStatus(r[6]),
        )

    async def get_suggestion(self, suggestion_id: str) -> Suggestion | None:
        row = self.db.execute("SELECT * FROM suggestions WHERE suggestion_id=?", (suggestion_id,)).fetchone()
        return None if row is None else self._suggestion(row)

    async def set_suggestion_status(self, suggestion_id: str, status: SuggestionStatus) -> None:
        self.db.execute("UPDATE suggestions SET status=? WHERE suggestion_id=?", (status.value, suggestion_id))

    async def suggestions(self, status: SuggestionStatus = SuggestionStatus.PENDING) -> list[Suggestion]:
        rows = self.db.execute(
            "SELECT * FROM suggestions WHERE status=? ORDER BY created_at", (status.value,)
        ).fetchall()
        return [self._suggestion(r) for r in rows]

    async def suggestions_of(self, person_ids: Sequence[str]) -> list[Suggestion]:
        if not person_ids:
            return []
        marks = _qs(len(person_ids))
        rows = self.db.execute(
            f"SELECT * FROM suggestions WHERE status='pending' AND a IN ({marks}) UNION"
            f" SELECT * FROM suggestions WHERE status='pending' AND b IN ({marks})",
            (*person_ids, *person_ids),
        ).fetchall()
        return [self._suggestion(r) for r in rows]

    async def add_cannot_link(self, a: str, b: str, actor: str, at: datetime) -> None:
        a, b = sorted((a, b))
        self.db.execute("INSERT OR IGNORE INTO cannot_link VALUES (?,?,?,?)", (a, b, actor, ts(at)))

    async def cannot_links_of(self, person_ids: Sequence[str]) -> set[str]:
        if not person_ids:
            return set()
        marks = _qs(len(person_ids))
        rows = self.db.execute(
            f"SELECT b FROM cannot_link WHERE a IN ({marks}) UNION SELECT a FROM cannot_link WHERE b IN ({marks})",
            (*person_ids, *person_ids),
        ).fetchall()
        return {r[0] for r in rows}
