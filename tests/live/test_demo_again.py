"""The first minutes: the demo on its own store, played once per store, with a login that works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.cli import build_parser, settings_for
from app.demo import DEMO_OPS_USER, DEMO_PASSWORD, DEMO_USER, open_demo
from app.export import What, rows
from app.keys import STORE
from core.config import DEMO_STORE, Settings
from store.base import BaseStore


async def picture(store: BaseStore) -> dict[str, Any]:
    """What a manager sees: persons with their profiles and leads, every event's person and lead."""
    return {
        "counts": await store.counts(),
        "persons": [row async for row in rows(store, What.PERSONS)],
        "events": [row async for row in rows(store, What.EVENTS)],
    }


async def login(base: str, name: str, password: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(base + "/api/login", json={"name": name, "password": password}) as r,
    ):
        return r.status


def test_the_demo_plays_into_its_own_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STITCH_STORE", raising=False)
    assert settings_for(build_parser().parse_args(["serve", "--demo"])).store_url == DEMO_STORE
    assert settings_for(build_parser().parse_args(["serve"])).store_url == "sqlite:///stitch.db"
    named = build_parser().parse_args(["serve", "--demo", "--store", "sqlite:///mine.db"])
    assert settings_for(named).store_url == "sqlite:///mine.db"


async def test_demo_twice_on_one_store_gives_the_same_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"STITCH_STORE": DEMO_STORE})
    first = await open_demo(settings, host="127.0.0.1", port=0)
    try:
        seen = await picture(first.app[STORE])
        assert await login(first.base_url, DEMO_USER, DEMO_PASSWORD) == 200
    finally:
        await first.close()
    out = capsys.readouterr().out
    assert f"Log in:       {DEMO_USER} / {DEMO_PASSWORD} (a supervisor)" in out
    assert f"Ops login:    {DEMO_OPS_USER} / {DEMO_PASSWORD} (an operator)" in out
    # Channels in the words the inbox uses, in the order she wrote, not the store's keys.
    assert "5 channels (Telegram, WhatsApp, MAX, Avito and the web form)" in out and "/inbox/persons/p_" in out
    assert (tmp_path / "stitch-demo.db").exists()

    second = await open_demo(settings, host="127.0.0.1", port=0)
    try:
        assert await picture(second.app[STORE]) == seen
        assert sorted(u.name for u in await second.app[STORE].users()) == [DEMO_USER, DEMO_OPS_USER]
        assert await login(second.base_url, DEMO_USER, DEMO_PASSWORD) == 200
        assert await login(second.base_url, DEMO_OPS_USER, DEMO_PASSWORD) == 200
    finally:
        await second.close()
    again = capsys.readouterr().out
    assert "already in this store" in again and "5 channels (Telegram, WhatsApp, MAX, Avito and the web form)" in again
    assert "1. Anna writes" not in again


async def test_another_store_gets_a_random_demo_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_env({"STITCH_STORE": f"sqlite:///{tmp_path / 'other.db'}"})
    run = await open_demo(settings, host="127.0.0.1", port=0)
    try:
        out = capsys.readouterr().out.splitlines()
        for prefix, name in (("Log in:", DEMO_USER), ("Ops login:", DEMO_OPS_USER)):
            line = next(x for x in out if x.startswith(prefix))
            password = line.split(" / ")[1].split(" ")[0]
            assert password != DEMO_PASSWORD
            assert await login(run.base_url, name, password) == 200
            assert await login(run.base_url, name, DEMO_PASSWORD) == 401
    finally:
        await run.close()
