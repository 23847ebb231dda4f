"""Live updates: a browser tab that goes away is ordinary, not an error in the server's log."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from app.inbox.keys import BROKER
from app.inbox.live import LiveEvent

from .conftest import Client, Demo


async def test_a_closed_tab_leaves_one_debug_line(
    demo: Demo, clients: dict[str, Client], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = demo.run.app[BROKER]
    before = broker.subscribers
    session = clients["sue"].session
    response = await session.get(demo.base + "/inbox/stream")
    assert response.status == 200
    assert (await response.content.readline()).startswith(b"event: hello")
    response.close()  # the tab closes: the connection drops under the server
    # The server learns it only when it next writes: publish until the stream has gone.
    while broker.subscribers > before:
        broker.publish(LiveEvent(kind="message", person_id=demo.anna))
        await asyncio.sleep(0.05)
    await demo.run.settle()
    web = [r for r in caplog.records if r.name.startswith(("aiohttp", "stitch.http", "stitch.inbox"))]
    noisy = [r for r in web if r.levelno >= logging.WARNING or r.exc_info or "\n" in r.getMessage()]
    assert noisy == []
    closed = [r for r in caplog.records if r.name == "stitch.inbox.live" and "closed" in r.getMessage()]
    assert [r.levelno for r in closed] == [logging.DEBUG]


async def test_a_live_stream_still_delivers(demo: Demo, clients: dict[str, Client]) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    async with clients["sue"].session.get(demo.base + "/inbox/stream", timeout=timeout) as response:
        assert (await response.content.readline()).startswith(b"event: hello")
        demo.run.app[BROKER].publish(LiveEvent(kind="message", person_id=demo.anna))
        lines = [await response.content.readline() for _ in range(4)]
        assert any(line.startswith(b"event: message") for line in lines)
