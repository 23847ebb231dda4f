"""A token bucket per client key: the web form's and the inbox login's guard against floods."""

from __future__ import annotations

import time
from dataclasses import dataclass

RATE_PER_MIN = 6.0  # requests a minute per key, sustained (the web form's default)
RATE_BURST = 10.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per client address."""

    def __init__(self, per_min: float = RATE_PER_MIN, burst: float = RATE_BURST, max_keys: int = 100_000) -> None:
        self.rate = per_min / 60.0
        self.burst = burst
        self.max_keys = max_keys
        self.buckets: dict[str, _Bucket] = {}

    def allow(self, key: str, now: float | None = None) -> float:
        """0 when allowed; otherwise the seconds to wait."""
        now = time.monotonic() if now is None else now
        if len(self.buckets) > self.max_keys:
            self.buckets.clear()  # a flood of addresses: forget rather than grow without bound
        bucket = self.buckets.setdefault(key, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate
