"""The way in: `/` and the slashless `/inbox` and `/ops` lead to the pages."""

from __future__ import annotations

import aiohttp
import pytest

from .conftest import PASSWORD, Demo


@pytest.mark.parametrize(("path", "target"), [("/", "/inbox/"), ("/inbox", "/inbox/"), ("/ops", "/ops/")])
async def test_short_addresses_redirect(demo: Demo, path: str, target: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(demo.base + path, allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == target


async def test_the_root_leads_through_the_login_to_the_inbox(demo: Demo) -> None:
    async with aiohttp.ClientSession() as session, session.get(demo.base + "/") as r:
        assert r.status == 200
        assert r.url.path == "/inbox/login" and r.url.query["next"] == "/inbox/"
        assert 'action="/inbox/login"' in await r.text()


def browser_like() -> aiohttp.ClientSession:
    """A session that keeps cookies, as a browser does (a loopback address included)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_the_ops_pages_lead_through_the_login_and_back(demo: Demo) -> None:
    async with browser_like() as session:
        async with session.get(demo.base + "/ops/merges") as r:
            assert r.url.path == "/inbox/login" and r.url.query["next"] == "/ops/merges"
            form = await r.text()
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
        fields = {"csrf": csrf, "next": "/ops/merges", "name": "otto", "password": PASSWORD}
        async with session.post(demo.base + "/inbox/login", data=fields) as r:
            assert r.status == 200 and r.url.path == "/ops/merges"
            assert "Recent merges and splits" in await r.text()


async def test_a_login_without_an_ops_role_is_told_so(demo: Demo) -> None:
    async with browser_like() as session:
        async with session.post(demo.base + "/api/login", json={"name": "sue", "password": PASSWORD}) as r:
            assert r.status == 200
        async with session.get(demo.base + "/ops/", allow_redirects=False) as r:
            assert r.status == 403 and "ops or admin role" in await r.text()


async def test_the_login_never_sends_elsewhere(demo: Demo) -> None:
    for away in ("https://example.com/", "//example.com/ops/", "/webhooks/telegram"):
        async with browser_like() as session:
            async with session.get(demo.base + "/inbox/login") as r:
                csrf = (await r.text()).split('name="csrf" value="')[1].split('"')[0]
            fields = {"csrf": csrf, "next": away, "name": "sue", "password": PASSWORD}
            async with session.post(demo.base + "/inbox/login", data=fields, allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"] == "/inbox/", away


@pytest.mark.parametrize("path", ["/favicon.ico", "/inbox/static/icon.svg"])
async def test_the_icon_is_served_to_anyone(demo: Demo, path: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(demo.base + path) as r:
        assert r.status == 200 and r.content_type == "image/svg+xml"
        assert (await r.text()).startswith("<svg ")
