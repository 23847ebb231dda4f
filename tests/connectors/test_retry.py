"""The retry policy: what is retried, how long it waits, when it gives up (no real sleeping)."""

from __future__ import annotations

import pytest

from connectors.retry import RETRY_AFTER_CAP, backoff_delay, parse_retry_after, with_retries
from core.errors import ChannelUnavailable, ProviderError


class RecordingSleep:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.pauses.append(delay)


class Flaky:
    """Raises the queued errors in order, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_retryable_errors_back_off_then_succeed() -> None:
    fn = Flaky(ProviderError("x", "boom", status=500), ProviderError("x", "boom", status=503))
    sleep = RecordingSleep()
    result = await with_retries(fn, attempts=3, base_delay=1, max_delay=10, sleep=sleep, rand=lambda: 1.0)
    assert result == "done"
    assert sleep.pauses == [1.0, 2.0]


async def test_retry_after_wins_over_backoff() -> None:
    fn = Flaky(ProviderError("x", "slow down", status=429, retry_after=42))
    sleep = RecordingSleep()
    await with_retries(fn, attempts=2, base_delay=1, max_delay=5, sleep=sleep)
    assert sleep.pauses == [42]


@pytest.mark.parametrize("error", [ChannelUnavailable("x", "blocked"), ProviderError("x", "bad request", status=400)])
async def test_permanent_errors_are_not_retried(error: Exception) -> None:
    fn = Flaky(error)
    sleep = RecordingSleep()
    with pytest.raises(type(error)):
        await with_retries(fn, attempts=5, base_delay=1, max_delay=5, sleep=sleep)
    assert (fn.calls, sleep.pauses) == (1, [])


async def test_gives_up_after_attempts_with_the_last_error() -> None:
    fn = Flaky(*(ProviderError("x", str(i), status=500) for i in range(5)))
    with pytest.raises(ProviderError, match="2"):
        await with_retries(fn, attempts=3, base_delay=1, max_delay=5, sleep=RecordingSleep())
    assert fn.calls == 3


def test_backoff_is_capped_and_jittered() -> None:
    assert backoff_delay(10, base_delay=1, max_delay=30, rand=lambda: 1.0) == 30
    assert backoff_delay(3, base_delay=1, max_delay=30, rand=lambda: 0.5) == 2
    assert 0 <= backoff_delay(4, base_delay=1, max_delay=30) <= 8


async def test_a_provider_asking_for_an_hour_is_given_at_most_the_cap() -> None:
    fn = Flaky(ProviderError("x", "flood", status=429, retry_after=3600.0))
    sleep = RecordingSleep()
    assert await with_retries(fn, attempts=2, sleep=sleep) == "done"
    assert sleep.pauses == [RETRY_AFTER_CAP]


@pytest.mark.parametrize(("raw", "seconds"), [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), (None, None)])
def test_retry_after_headers_read_as_seconds(raw: str | None, seconds: float | None) -> None:
    assert parse_retry_after(raw) == seconds


@pytest.mark.parametrize("raw", ["inf", "nan", "Wed, 21 Oct 2026 07:28:00 GMT", ""])
def test_retry_after_headers_that_are_no_finite_number_are_ignored(raw: str) -> None:
    assert parse_retry_after(raw) is None
