"""Merges, suggestions and "not the same person" marks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from core.records import MergeRecord, Suggestion, SuggestionStatus
from store.codec import MERGES, SUGGESTIONS, ts
from store.sqlite.connection import SqliteConnection, _qs


class SqliteMerges(SqliteConnection):
    # -- merges, suggestions, cannot-links -------------------------------------------------------
    async def add_merge(self, record: MergeRecord) -> None:
        self.db.execute(f"INSERT INTO merges({MERGES.columns}) VALUES ({MERGES.marks})", MERGES.row(record))

    async def get_merge(self, merge_id: str) -> MergeRecord | None:
        row = self.db.execute(f"SELECT {MERGES.columns} FROM merges WHERE merge_id=?", (merge_id,)).fetchone()
        return None if row is None else MERGES.load(row)

    async def set_merge_undone(self, merge_id: str, by: str) -> None:
        self.db.execute("UPDATE merges SET undone_by=? WHERE merge_id=?", (by, merge_id))

    async def merges(self, *, limit: int | None = None) -> list[MergeRecord]:
        rows = self.db.execute(
            f"SELECT {MERGES.columns} FROM merges ORDER BY seq DESC LIMIT ?", (limit or -1,)
        ).fetchall()
        return [MERGES.load(r) for r in rows]

    async def add_suggestion(self, suggestion: Suggestion) -> bool:
        a, b = sorted((suggestion.a, suggestion.b))
        cur = self.db.execute(
            f"INSERT OR IGNORE INTO suggestions({SUGGESTIONS.columns}) VALUES ({SUGGESTIONS.marks})",
            SUGGESTIONS.row(replace(suggestion, a=a, b=b)),
        )
        return cur.rowcount == 1

    async def get_suggestion(self, suggestion_id: str) -> Suggestion | None:
        row = self.db.execute(
            f"SELECT {SUGGESTIONS.columns} FROM suggestions WHERE suggestion_id=?", (suggestion_id,)
        ).fetchone()
        return None if row is None else SUGGESTIONS.load(row)

    async def set_suggestion_status(self, suggestion_id: str, status: SuggestionStatus) -> None:
        self.db.execute("UPDATE suggestions SET status=? WHERE suggestion_id=?", (status.value, suggestion_id))

    async def suggestions(self, status: SuggestionStatus = SuggestionStatus.PENDING) -> list[Suggestion]:
        rows = self.db.execute(
            f"SELECT {SUGGESTIONS.columns} FROM suggestions WHERE status=? ORDER BY created_at", (status.value,)
        ).fetchall()
        return [SUGGESTIONS.load(r) for r in rows]

    async def suggestions_of(self, person_ids: Sequence[str]) -> list[Suggestion]:
        if not person_ids:
            return []
        marks = _qs(len(person_ids))
        rows = self.db.execute(
            f"SELECT {SUGGESTIONS.columns} FROM suggestions WHERE status='pending' AND a IN ({marks}) UNION"
            f" SELECT {SUGGESTIONS.columns} FROM suggestions WHERE status='pending' AND b IN ({marks})",
            (*person_ids, *person_ids),
        ).fetchall()
        return [SUGGESTIONS.load(r) for r in rows]

    async def add_cannot_link(self, a: str, b: str, actor: str, at: datetime) -> None:
        a, b = sorted((a, b))
        self.db.execute("INSERT OR IGNORE INTO cannot_link VALUES (?,?,?,?)", (a, b, actor, ts(at)))
        self._cache.apart.pop(a, None)
        self._cache.apart.pop(b, None)

    async def cannot_links_of(self, person_ids: Sequence[str]) -> set[str]:
        if not person_ids:
            return set()
        cache: dict[str, list[str]] = self._cache.apart if self._depth else {}
        self._fill(
            cache,
            person_ids,
            "SELECT a, b FROM cannot_link WHERE a IN ({0}) UNION SELECT b, a FROM cannot_link WHERE b IN ({0})",
        )
        return {other for p in person_ids for other in cache[p]}
