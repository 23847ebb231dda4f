"""Background resolution of accepted events, tracked so shutdown waits for them.

Webhooks answer the provider as soon as the raw event is stored; this worker resolves it next.
Events left pending by a crash are picked up at start-up (`Pipeline.drain_pending`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.ingest import Pipeline
from app.queue import BaseQueue

log = logging.getLogger("stitch.processor")


class Processor(BaseQueue):
    """The in-process queue: resolves accepted events in a tracked background task (SQLite)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
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
            event_id = await self.queue.get()
            try:
                await self.pipeline.process(event_id)
            except Exception:
                # The event stays pending in the store and is retried at the next start.
                log.exception("resolution failed", extra={"event_id": event_id})
            finally:
                self.queue.task_done()
