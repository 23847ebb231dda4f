"""How a serving `stitch` process stops: SIGINT and SIGTERM alike, whatever it inherited.

A shell that starts a background job (`stitch serve --demo &` in a script) sets SIGINT to be
ignored, and Python then never raises KeyboardInterrupt; SIGTERM's default kills the process
without any clean-up. Handlers on the event loop catch both, so the server drains its pending work
and closes its stores either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

T = TypeVar("T")


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call `stop` on SIGINT or SIGTERM while inside; the signals' previous handling comes back after."""
    loop = asyncio.get_running_loop()
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)
    try:
        yield
    finally:
        for sig, previous in before.items():
            loop.remove_signal_handler(sig)
            # The loop leaves SIGINT raising KeyboardInterrupt: a job started ignoring it keeps ignoring it.
            if previous is not None:
                signal.signal(sig, previous)


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Await `work`; when `stop` is set first, cancel it, let its clean-up run, and return None."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return None
    return task.result()
