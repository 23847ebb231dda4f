"""Retention (GDPR art. 5(1)(e), 152-FZ art. 5(7)): chats are kept only as long as needed.

With STITCH_RETENTION_DAYS set, a sweep erases message and reply texts, raw provider payloads and CRM
job payloads older than that. Profiles, identifiers and merges stay, so a returning customer is still
recognised. `stitch serve` sweeps periodically; `stitch retention sweep` once. The last sweep (when,
how many) is kept in the store for the ops overview.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from app.keys import STORE
from core.config import Settings
from core.errors import StitchError
from store.base import BaseStore
from store.sqlite import SqliteStore

log = logging.getLogger("stitch.retention")

NOTE = "retention.last_sweep"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep:
    at: datetime
    before: datetime
    days: int
    erased: dict[str, int] = field(default_factory=dict)

    def render(self) -> str:
        parts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in self.erased.items())
        return f"retention {self.days} days: erased what was older than {self.before:%Y-%m-%d %H:%M} UTC: {parts}"


async def sweep(store: BaseStore, days: int, *, now: datetime | None = None, vacuum: bool = False) -> Sweep:
    """Erase what is older than `days` days and remember the sweep."""
    at = now or datetime.now(UTC)
    before = at - timedelta(days=days)
    if isinstance(store, SqliteStore):
        erased = await store.expire(before, vacuum=vacuum)
    else:
        erased = await store.expire(before)
    done = Sweep(at=at, before=before, days=days, erased=erased)
    note = {"at": at.isoformat(), "before": before.isoformat(), "days": days, "erased": erased}
    await store.put_note(NOTE, json.dumps(note))
    log.info("retention sweep", extra={"days": days, **{f"erased_{k}": n for k, n in erased.items()}})
    return done


async def last_sweep(store: BaseStore) -> Sweep | None:
    raw = await store.get_note(NOTE)
    if raw is None:
        return None
    note = json.loads(raw)
    return Sweep(
        at=datetime.fromisoformat(note["at"]),
        before=datetime.fromisoformat(note["before"]),
        days=int(note["days"]),
        erased={str(k): int(v) for k, v in note["erased"].items()},
    )


async def _sweep_forever(store: BaseStore, settings: Settings) -> None:
    # The first sweep runs at start-up: a server restarted often still keeps to the retention.
    while True:
        try:
            await sweep(store, settings.retention_days)
        except StitchError as e:  # the store was away: the next round tries again
            log.warning("retention sweep failed", extra={"reason": str(e)})
        except Exception as e:  # never let the loop die; the type is enough, a message could hold data
            log.warning("retention sweep failed", extra={"reason": type(e).__name__})
        await asyncio.sleep(settings.retention_sweep_s)


def setup_retention(app: web.Application, settings: Settings) -> None:
    """Sweep in the background while `stitch serve` runs; nothing when retention is off."""
    if not settings.retention_days:
        return

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_sweep_forever(app[STORE], settings), name="stitch-retention")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(ctx)
