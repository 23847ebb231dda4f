"""Ops aggregates: bounded whole-store counts for the ops pages, never on the hot path."""

from __future__ import annotations

from store.sqlite.connection import SqliteConnection


class SqliteOps(SqliteConnection):
    # -- ops aggregates --------------------------------------------------------------------------
    # Every profile counts for the root of the person it joined first; the alias forest is walked
    # once, top-down, so each query is one pass over persons and profiles.
    _ROOTED_SIZES = """
        WITH RECURSIVE rooted(person_id, root) AS (
          SELECT person_id, person_id FROM persons WHERE merged_into IS NULL
          UNION ALL
          SELECT p.person_id, r.root FROM persons p JOIN rooted r ON p.merged_into = r.person_id
        )
        SELECT r.root, count(*) AS size FROM rooted r JOIN profiles pr ON pr.person_id = r.person_id
        GROUP BY r.root
    """

    async def person_sizes(self) -> dict[int, int]:
        rows = self.db.execute(f"SELECT size, count(*) FROM ({self._ROOTED_SIZES}) GROUP BY size").fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    async def largest_persons(self, limit: int) -> list[tuple[str, int]]:
        rows = self.db.execute(
            f"SELECT root, size FROM ({self._ROOTED_SIZES}) ORDER BY size DESC, root LIMIT ?", (limit,)
        ).fetchall()
        return [(r[0], int(r[1])) for r in rows]

    async def merge_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT kind, count(*) FROM merges GROUP BY kind").fetchall())

    async def outbox_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
