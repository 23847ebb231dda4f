"""The way in: `/` and the slashless `/inbox` and `/ops` lead to the pages."""

from __future__ import annotations

import aiohttp
import pytest

from .conftest import Demo


@pytest.mark.parametrize(("path", "target"), [("/", "/inbox/"), ("/inbox", "/inbox/"), ("/ops", "/ops/")])
async def test_short_addresses_redirect(demo: Demo, path: str, target: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(demo.base + path, allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == target


async def test_the_root_leads_through_the_login_to_the_inbox(demo: Demo) -> None:
    async with aiohttp.ClientSession() as session, session.get(demo.base + "/") as r:
        assert r.status == 200
        assert r.url.path == "/inbox/login" and r.url.query["next"] == "/inbox/"
        assert 'action="/inbox/login"' in await r.text()
