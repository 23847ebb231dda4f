"""Providers the web layer asks about work it does not own: the queue backlog, the Redis stream lag and
dead letters.

Without Redis the in-process processor answers the backlog and there is no stream (lag 0, no dead
letters). The Redis queue (app/streams.py) plugs its own functions in when it is the queue; nothing
here imports it, so this module works on either side of that merge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiohttp import web


class DeadLetterLike(Protocol):
    """What the ops page shows of a dead-lettered queue entry (app/streams.py's DeadLetter)."""

    @property
    def entry_id(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def deliveries(self) -> int: ...
    @property
    def at(self) -> float: ...


Backlog = Callable[[], Awaitable[int]]
QueueLag = Callable[[], Awaitable[float]]
DeadLetters = Callable[[int], Awaitable[Sequence[DeadLetterLike]]]


async def no_backlog() -> int:
    return 0


async def no_queue_lag() -> float:
    """Without Redis events are resolved by the process that accepted them: there is no shared stream."""
    return 0.0


async def no_dead_letters(limit: int) -> Sequence[DeadLetterLike]:
    return ()


class Probes:
    """The providers of one app. Mutable on purpose: the queue that answers is built at start-up,
    after the app (and its state) is frozen, and replaces the defaults then."""

    def __init__(
        self,
        *,
        backlog: Backlog = no_backlog,
        queue_lag: QueueLag = no_queue_lag,
        dead_letters: DeadLetters = no_dead_letters,
    ) -> None:
        self.backlog = backlog
        self.queue_lag = queue_lag
        self.dead_letters = dead_letters


PROBES = web.AppKey("probes", Probes)
