"""Background resolution of accepted events, tracked so shutdown waits for them.

Webhooks answer the provider as soon as the raw event is stored; this worker resolves it next.
Events left pending by a crash are picked up at start-up (`Pipeline.drain_pending`). An event whose
resolution keeps raising is parked as failed (`Pipeline.settle`), at start-up as in a round.

The worker shares the event loop (and SQLite's one writer) with the webhooks, so it works in short
rounds: the events waiting are resolved in one transaction, each in its own savepoint, until the
round's time budget is spent; then the round commits, the observers hear about its events, and the
worker yields to the event loop before the next round. One commit serves several events (each
commit writes the B-tree pages its transaction touched, and consecutive events touch many of the
same ones), and a webhook never waits behind more than one round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from app.ingest import IngestResult, Pipeline
from app.queue import BaseQueue

log = logging.getLogger("stitch.processor")

# Resolution work per round: long enough to share one commit among several events, short enough
# that a request arriving meanwhile is answered within a few milliseconds of it.
ROUND_BUDGET_S = 0.008
ROUND_MAX_EVENTS = 64
# See `_after_requests`: the shortest timer, only to be ordered after the sockets' callbacks.
YIELD_TIMER_S = 1e-6


async def _after_requests() -> None:
    """Yield so that the requests which arrived during a round are answered before the next one.

    asyncio.Queue.get returns at once while events wait, so without a yield the worker would
    resolve a whole backlog before the event loop read another request. A bare `sleep(0)` is not
    enough: the loop runs the callbacks already queued (this worker's wake-up among them) before
    the handlers that the sockets' data wakes up. A timer runs after that data has been read, and
    the `sleep(0)` after it puts this worker behind the handlers it woke.
    """
    await asyncio.sleep(YIELD_TIMER_S)
    await asyncio.sleep(0)


class Processor(BaseQueue):
    """The in-process queue: resolves accepted events in a tracked background task (SQLite)."""

    def __init__(
        self, pipeline: Pipeline, *, budget_s: float = ROUND_BUDGET_S, max_events: int = ROUND_MAX_EVENTS
    ) -> None:
        self.pipeline = pipeline
        self.budget_s = budget_s
        self.max_events = max_events
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def submit(self, event_id: str) -> None:
        self.queue.put_nowait(event_id)

    async def enqueue(self, event_id: str) -> None:
        self.submit(event_id)

    async def backlog(self) -> int:
        return self.queue.qsize()

    async def start(self) -> None:
        drained = await self.pipeline.drain_pending()
        if drained:
            log.info("resolved events left pending", extra={"count": drained})
        self._task = asyncio.create_task(self._run(), name="stitch-processor")

    async def idle(self) -> None:
        """Wait until every submitted event is resolved (tests, graceful shutdown)."""
        await self.queue.join()

    async def stop(self) -> None:
        if self._task is None:
            return
        await self.queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            taken = [await self.queue.get()]
            try:
                results = await self._round(taken)
                await self._notify(results)
            finally:
                for _ in taken:
                    self.queue.task_done()
            await _after_requests()

    async def _round(self, taken: list[str]) -> list[IngestResult]:
        """Resolve `taken` and whatever else waits, within the budget, in one transaction.

        `taken` grows with the events this round takes from the queue. A failed attempt rolls back
        its own savepoint; an event that keeps failing is parked; if the round's commit itself
        fails, its events are resolved again one transaction each.
        """
        store = self.pipeline.store
        deadline = time.perf_counter() + self.budget_s
        results: list[IngestResult] = []
        try:
            async with store.atomic():
                while True:
                    result = await self._process(taken[-1])
                    if result is not None:
                        results.append(result)
                    if time.perf_counter() >= deadline or len(taken) >= self.max_events or self.queue.empty():
                        break
                    taken.append(self.queue.get_nowait())
        except Exception:
            log.exception("resolution round failed, resolving its events one by one", extra={"count": len(taken)})
            results = [r for r in [await self._process(event_id) for event_id in taken] if r is not None]
        return results

    async def _process(self, event_id: str) -> IngestResult | None:
        try:
            return await self.pipeline.settle(event_id, notify=False)
        except Exception as e:
            # The store failed (an outage, not the event): it stays pending, counted by /readyz,
            # and is resolved again at the next start.
            log.warning(
                "resolution deferred: the store failed", extra={"event_id": event_id, "error": type(e).__name__}
            )
            return None

    async def _notify(self, results: list[IngestResult]) -> None:
        """Tell the observers about a committed round; what they store commits together."""
        if not results:
            return
        # The observers here (inbox rows, metrics, the contact question's task) touch only the
        # store, so one transaction for all of them holds the writer only briefly; each
        # observer's own unit inside it is a savepoint, so one failing observer undoes only itself.
        try:
            async with self.pipeline.store.atomic():
                for result in results:
                    await self.pipeline.notify(result)
        except Exception:
            log.exception("observers' commit failed", extra={"count": len(results)})
