"""Ops aggregates: bounded whole-store counts for the ops pages, never on the hot path."""

from __future__ import annotations

from store.base import MAX_ALIAS_DEPTH
from store.redis.connection import RedisConnection


class RedisOps(RedisConnection):
    # -- ops aggregates (whole-store walks, off the hot path) -------------------------------------
    async def _root_sizes(self) -> dict[str, int]:
        parent = {p.person_id: p.merged_into async for p in self.iter_persons()}
        roots: dict[str, str] = {}

        def root(pid: str) -> str:
            seen: list[str] = []
            current = pid
            while current not in roots and parent.get(current) and len(seen) < MAX_ALIAS_DEPTH:
                seen.append(current)
                current = parent[current] or current
            found = roots.get(current, current)
            for s in [*seen, current]:
                roots[s] = found
            return found

        sizes: dict[str, int] = {}
        async for profile in self.iter_profiles():
            r = root(profile.person_id)
            sizes[r] = sizes.get(r, 0) + 1
        return sizes

    async def person_sizes(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for size in (await self._root_sizes()).values():
            out[size] = out.get(size, 0) + 1
        return out

    async def largest_persons(self, limit: int) -> list[tuple[str, int]]:
        sizes = await self._root_sizes()
        return sorted(sizes.items(), key=lambda rs: (-rs[1], rs[0]))[:limit]

    async def merge_counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            return {f[3:]: n for f, n in counts.items() if f.startswith("mg:") and n > 0}

    async def outbox_counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            return {f[3:]: n for f, n in counts.items() if f.startswith("ob:") and n > 0}
