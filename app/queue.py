"""The queue seam between accepting an event and resolving it.

InProcessQueue (app/processor.py, the `Processor`): one process resolves what it accepted (SQLite).
RedisStreamQueue (app/streams.py): web processes enqueue to a Redis Stream and `stitch worker`
processes, on any machine, resolve (the Redis store).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

IDLE_POLL_S = 0.05


class BaseQueue(ABC):
    """Where accepted event ids go to be resolved."""

    @abstractmethod
    async def enqueue(self, event_id: str) -> None:
        """Hand a stored (pending) event to whoever resolves events."""

    @abstractmethod
    async def backlog(self) -> int:
        """Events handed over and not yet resolved (readiness, metrics)."""

    async def idle(self) -> None:
        """Wait until everything handed over is resolved (tests, the demo, graceful shutdown)."""
        while await self.backlog():
            await asyncio.sleep(IDLE_POLL_S)

    async def start(self) -> None:  # noqa: B027 - optional hook, most queues need nothing
        """Begin work (the in-process queue resolves events left pending)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Finish or hand back what is in flight."""
