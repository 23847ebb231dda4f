"""Where a replay's time goes: SQLite statements vs everything else (parsing, resolving, Python).

    python -m bench.costs FILE.jsonl [--store sqlite:///PATH] [--top 15]

Replays FILE into a fresh SQLite store (a temporary file unless --store is given) with every
statement timed, then prints the wall time, the time inside SQLite, statements per event, and the
costliest statement shapes. "Everything else" bounds what any storage change could win: with a free
store, replay would still take that long.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.ingest import Pipeline
from app.replay import replay
from core.config import Settings
from store.sqlite import SqliteStore

_PLACEHOLDERS_RE = re.compile(r"\(\?(?:,\s*\?)*\)")
_SPACES_RE = re.compile(r"\s+")


@dataclass(slots=True)
class Costs:
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter)

    shapes: dict[str, str] = field(default_factory=dict)

    def add(self, sql: str, seconds: float) -> None:
        shape = self.shapes.get(sql)
        if shape is None:  # once per distinct statement: the measuring must cost next to nothing
            shape = self.shapes[sql] = _SPACES_RE.sub(" ", _PLACEHOLDERS_RE.sub("(…)", sql)).strip()[:90]
        self.seconds[shape] += seconds
        self.calls[shape] += 1


class _TimedCursor:
    """Rows fetched eagerly, so the fetch is timed with the statement."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchmany(self, size: int) -> list[Any]:
        out, self._rows = self._rows[:size], self._rows[size:]
        return out


class _TimedConnection:
    def __init__(self, db: sqlite3.Connection, costs: Costs) -> None:
        self._db = db
        self._costs = costs

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _TimedCursor:
        started = time.perf_counter()
        cur = self._db.execute(sql, params)
        rows = cur.fetchall()
        self._costs.add(sql, time.perf_counter() - started)
        return _TimedCursor(rows, cur.rowcount)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        started = time.perf_counter()
        cur = self._db.executemany(sql, rows)
        self._costs.add(sql, time.perf_counter() - started)
        return cur

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@contextmanager
def timed(store: SqliteStore, costs: Costs) -> Iterator[None]:
    db = store.db
    store._db = _TimedConnection(db, costs)  # type: ignore[assignment]  # instrumentation only
    try:
        yield
    finally:
        store._db = db


async def measure(files: list[str], url: str) -> tuple[int, float, Costs]:
    settings = Settings.from_env()
    store = SqliteStore.from_url(url)
    await store.open()
    costs = Costs()
    try:
        with timed(store, costs):
            started = time.perf_counter()
            summary = await replay(Pipeline(store, settings), files, progress=False)
            wall = time.perf_counter() - started
    finally:
        await store.close()
    return summary.lines, wall, costs


def render(events: int, wall: float, costs: Costs, top: int) -> str:
    sql = sum(costs.seconds.values())
    per = 1e6 / max(events, 1)
    lines = [
        f"events: {events}   wall: {wall:.2f} s   {events / wall:,.0f} events/s",
        f"inside SQLite: {sql:.2f} s ({100 * sql / wall:.0f}%), {sum(costs.calls.values()) / max(events, 1):.1f}"
        " statements per event",
        f"everything else: {wall - sql:.2f} s, {(wall - sql) * per:.0f} µs per event"
        f" (at most {events / max(wall - sql, 1e-9):,.0f} events/s with a free store)",
        "",
        f"{'µs/event':>9} {'calls/event':>11}  statement",
    ]
    for shape, seconds in sorted(costs.seconds.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{seconds * per:9.1f} {costs.calls[shape] / max(events, 1):11.2f}  {shape}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.costs", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="replay files (JSON Lines)")
    parser.add_argument("--store", help="sqlite:///PATH (default: a temporary file)")
    parser.add_argument("--top", type=int, default=15, help="statement shapes to list")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store or f"sqlite:///{Path(tmp) / 'costs.db'}"
        events, wall, costs = asyncio.run(measure(args.files, url))
    sys.stdout.write(render(events, wall, costs, args.top) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
