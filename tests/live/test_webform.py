"""The web form as a channel: its own answers through the real app (CORS, guards, field errors)."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
from live_support import Live, person_of, start_live

from app.webhooks import CONNECTORS
from connectors.webform.connector import WebFormConnector
from core.config import Settings
from core.values import Channel

SITE = "https://shop.example"


async def test_a_submission_is_stored_and_guards_answer_with_field_errors(live_settings: Settings) -> None:
    live = await start_live(replace(live_settings, form_origins=(SITE,)))
    try:
        url = live.url("/forms/contact")
        async with aiohttp.ClientSession() as session:
            async with session.options(url, headers={"Origin": SITE}) as r:
                assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == SITE
            async with session.post(url, json={"name": "Ира"}, headers={"Origin": "https://evil.example"}) as r:
                assert r.status == 403 and "origin" in (await r.json())["errors"]
            async with session.post(url, json={"name": "Ира", "phone": "12"}, headers={"Origin": SITE}) as r:
                assert r.status == 400 and (await r.json())["errors"]["phone"] == "not a valid phone number"
            async with session.post(url, json={"name": "Bot", "phone": "89123456789", "website": "x"}) as r:
                assert r.status == 200  # the honeypot: answered like a success, stored nowhere
            form = {"name": "Ирина Соколова", "phone": "8 (912) 345-67-89", "message": "Перезвоните"}
            async with session.post(url, json=form, headers={"Origin": SITE}) as r:
                assert r.status == 201 and r.headers["Access-Control-Allow-Origin"] == SITE
                submitted = (await r.json())["id"]
        await live.settle()
        assert await live.store.event_counts() == {"done": 1}
        assert await person_of(live, f"webform:sub:{submitted}") is not None
        assert isinstance(live.app[CONNECTORS][Channel.WEBFORM], WebFormConnector)
    finally:
        await live.stop()


async def test_a_flood_from_one_address_is_limited(live: Live) -> None:
    url = live.url("/forms/contact")
    statuses = []
    async with aiohttp.ClientSession() as session:
        for n in range(12):
            form = {"name": f"Гость {n}", "email": f"guest{n}@example.ru"}
            async with session.post(url, json=form) as r:
                statuses.append(r.status)
                if r.status == 429:
                    assert int(r.headers["Retry-After"]) >= 1
    assert statuses.count(201) == 10 and statuses[-1] == 429
