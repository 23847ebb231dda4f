"""The ops pages on retention and erased persons."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import aiohttp
from ops_support import Running
from test_pages import get

from app import personal
from app.inbox.auth import add_user
from app.retention import sweep
from core.inbox import Role
from store.sqlite import SqliteStore

PASSWORD = "correct-horse-1"


async def test_overview_shows_the_last_retention_sweep(running: Running, ops_store: SqliteStore, customer: str) -> None:
    html = await get(running, "/ops/")
    assert "retention" in html and "no sweep yet" in html
    await sweep(ops_store, 30, now=datetime(2026, 12, 1, tzinfo=UTC))
    html = await get(running, "/ops/")
    assert re.search(r"last sweep <span class=\"when\">2026-12-01", html) and "4 messages" in html


async def test_merges_of_an_erased_person_show_they_cannot_be_split(
    running: Running, ops_store: SqliteStore, customer: str
) -> None:
    assert "can no longer be split" not in await get(running, "/ops/merges")
    await personal.forget(ops_store, customer, actor="ada", at=datetime(2026, 12, 1, tzinfo=UTC))
    html = await get(running, "/ops/merges")
    assert html.count("person erased: can no longer be split") == 3 and "Split</button>" not in html


async def test_once_inbox_users_exist_loopback_alone_is_not_enough(running: Running, ops_store: SqliteStore) -> None:
    await get(running, "/ops/")  # no user yet: loopback is the operator
    await add_user(ops_store, "mia", Role.MANAGER, PASSWORD)
    await add_user(ops_store, "otto", Role.OPS, PASSWORD)
    # Nobody logged in: a browser is sent to the login, and back to the ops pages after it.
    async with running.session.get(running.url("/ops/"), allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/inbox/login?next=/ops/"
    for name, status in (("mia", 403), ("otto", 200)):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            login = {"name": name, "password": PASSWORD}
            async with session.post(running.url("/api/login"), json=login) as r:
                assert r.status == 200
            async with session.get(running.url("/ops/"), allow_redirects=False) as r:
                assert r.status == status
