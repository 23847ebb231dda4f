"""Retry policy for outbound provider calls: exponential backoff with full jitter.

Only a `ProviderError` that says it is `retryable` (429 or 5xx) is retried. `ChannelUnavailable`
(the customer blocked the bot, the WhatsApp window is closed) never is: trying again cannot help.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.errors import ProviderError

T = TypeVar("T")

DEFAULT_ATTEMPTS = 5
DEFAULT_BASE_DELAY = 0.5  # seconds before the second attempt, doubled after each failure
DEFAULT_MAX_DELAY = 30.0  # cap on one backoff pause (a provider's own retry_after may exceed it)
# A provider's retry_after is honoured up to this: a header saying "an hour" must not hold a reply
# (and the shutdown waiting for it) that long.
RETRY_AFTER_CAP = 300.0


def backoff_delay(
    attempt: int, *, base_delay: float, max_delay: float, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter pause after failed attempt number `attempt` (1-based)."""
    ceiling = min(max_delay, base_delay * (2.0 ** (attempt - 1)))
    return ceiling * rand()


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Call `fn` until it succeeds, retrying retryable provider errors up to `attempts` calls in all.

    A provider's `retry_after` wins over the computed backoff: asking again sooner only earns
    another 429. The last error is re-raised unchanged once attempts run out.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    attempt = 1
    while True:
        try:
            return await fn()
        except ProviderError as e:
            if not e.retryable or attempt >= attempts:
                raise
            if e.retry_after is not None:
                delay = min(e.retry_after, RETRY_AFTER_CAP)
            else:
                delay = backoff_delay(attempt, base_delay=base_delay, max_delay=max_delay, rand=rand)
            await sleep(delay)
            attempt += 1


def parse_retry_after(raw: str | None) -> float | None:
    """Seconds from a Retry-After header; None when absent, an HTTP date, or not finite."""
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return None  # an HTTP date: rare here; the caller's backoff decides instead
    # "inf" or "nan" would pause forever (or not at all): treated as absent.
    return max(seconds, 0.0) if math.isfinite(seconds) else None
