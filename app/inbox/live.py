"""Live updates for open inbox pages: an in-process publish/subscribe feeding Server-Sent Events.

Fed by the ingest pipeline's observers and by outbox status changes in this process. With several
web workers each one feeds its own browsers from what it processes itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp_sse import EventSourceResponse

QUEUE_SIZE = 100  # a browser this far behind reloads rather than replays

log = logging.getLogger("stitch.inbox.live")


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveEvent:
    """Something changed for a person: a message, a reply's delivery state, a merge or split."""

    kind: str  # "message", "outbox", "identity", "lead"
    person_id: str  # the person's current root
    detail: str = ""  # ids only, never message text


class Broker:
    """Fan-out of LiveEvents to every subscribed page."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[LiveEvent]] = set()
        self.closed = asyncio.Event()  # set at shutdown: open streams end instead of holding the server

    def close(self) -> None:
        self.closed.set()

    def publish(self, event: LiveEvent) -> None:
        for queue in list(self._queues):
            if queue.full():
                continue  # a stalled browser must not hold the others back
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[LiveEvent]]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


async def feed(broker: Broker, sse: EventSourceResponse, wanted: Callable[[LiveEvent], bool]) -> None:
    """Send one browser the events it wants until it leaves or the server shuts down.

    A closed tab is the ordinary end of a stream, found out on the next write (an event or the
    keep-alive ping): one debug line, never an error with a traceback.
    """
    try:
        async with broker.subscribe() as queue:
            await sse.send(json.dumps({"kind": "hello"}), event="hello")
            gone = asyncio.ensure_future(sse.wait())  # ends when a ping finds the browser gone
            try:
                while True:
                    getter = asyncio.ensure_future(queue.get())
                    closer = asyncio.ensure_future(broker.closed.wait())
                    done, pending = await asyncio.wait({getter, closer, gone}, return_when=asyncio.FIRST_COMPLETED)
                    for task in pending - {gone}:
                        task.cancel()
                    if getter not in done:
                        if gone in done:
                            log.debug("live stream closed by the browser")
                        return
                    event = getter.result()
                    if wanted(event):
                        await sse.send(json.dumps({"kind": event.kind, "person_id": event.person_id}), event=event.kind)
            finally:
                gone.cancel()
    except ConnectionResetError:
        log.debug("live stream closed by the browser")
