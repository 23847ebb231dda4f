"""SQLite's WAL checkpoints run on the store's own thread, never inside a commit on the event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

from core.values import Channel, Envelope
from store.sqlite import SqliteStore

THREAD = "stitch-sqlite-checkpoint"


def checkpointers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == THREAD)


async def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    before = checkpointers()
    store = SqliteStore(tmp_path / "stitch.db")
    await store.open()
    try:
        assert checkpointers() == before + 1
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        size = (tmp_path / "stitch.db").stat().st_size
        for n in range(300):
            async with store.atomic():
                envelope = Envelope(
                    id=f"e{n}", channel=Channel.WEBFORM, received_at=datetime.now(UTC), payload={"message": "x" * 2000}
                )
                assert await store.add_event(envelope)
        # The pages reach the database file only through the thread's checkpoints.
        for _ in range(200):
            if (tmp_path / "stitch.db").stat().st_size > size:
                break
            await asyncio.sleep(0.05)
        assert (tmp_path / "stitch.db").stat().st_size > size
        assert (await store.event_counts()) == {"pending": 300}
    finally:
        await store.close()
    assert checkpointers() == before


async def test_reopened_store_reads_what_was_written(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "stitch.db")
    await store.open()
    async with store.atomic():
        await store.add_event(Envelope(id="e1", channel=Channel.WEBFORM, received_at=datetime.now(UTC), payload={}))
    await store.close()
    again = SqliteStore(tmp_path / "stitch.db")
    await again.open()
    try:
        assert await again.event_status("e1") is not None
    finally:
        await again.close()
