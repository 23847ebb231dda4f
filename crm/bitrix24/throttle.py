"""A leaky bucket shaped like Bitrix24's own limiter, so we wait instead of collecting 503s.

Bitrix24 counts every request into a bucket that drains at Y per second and refuses requests
past X (cloud plans: Y=2, X=50; Enterprise: Y=5, X=250). Mirroring it client-side keeps a burst of
pushes under the limit; `saturate()` resynchronises after the server says we overshot anyway
(the bucket is shared per portal and IP, so other apps on the same host fill it too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

DEFAULT_RATE = 2.0  # requests drained per second (cloud, non-Enterprise)
DEFAULT_BURST = 50  # bucket size before the server answers 503 QUERY_LIMIT_EXCEEDED

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class LeakyBucket:
    """Admit one request at a time so that the bucket level never exceeds `burst`.

    `clock` (monotonic seconds) and `sleep` are injectable so tests run without real waiting.
    """

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._last = clock()
        # One waiter at a time: otherwise every waiter computes the same free slot and they all go.
        self._lock = asyncio.Lock()

    @property
    def level(self) -> float:
        """The current fill level after draining up to now."""
        self._drain()
        return self._level

    def _drain(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> None:
        """Wait until one more request fits, then count it."""
        async with self._lock:
            while True:
                self._drain()
                if self._level + 1 <= self.burst:
                    self._level += 1
                    return
                await self._sleep((self._level + 1 - self.burst) / self.rate)

    def saturate(self) -> None:
        """The server said the bucket is full: assume so, the next request waits a drain step."""
        self._drain()
        self._level = float(self.burst)
