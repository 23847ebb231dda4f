"""The inbox against the running demo: provider fakes, Stitch on a loopback port, the five-channel story."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.demo import DemoRun, StoryResult, play_story, start_demo
from app.inbox.auth import add_user
from app.keys import STORE
from core.config import Settings
from core.inbox import Role
from store.base import BaseStore

PASSWORD = "correct-horse-1"
USERS = {"mia": Role.MANAGER, "leo": Role.MANAGER, "sue": Role.SUPERVISOR, "otto": Role.OPS, "ada": Role.ADMIN}


@dataclass(slots=True)
class Demo:
    run: DemoRun
    story: StoryResult
    anna: str

    @property
    def store(self) -> BaseStore:
        return self.run.app[STORE]

    @property
    def base(self) -> str:
        return self.run.base_url


class Client:
    """A logged-in API client (cookie jar + CSRF header)."""

    def __init__(self, base: str, session: aiohttp.ClientSession, csrf: str) -> None:
        self.base = base
        self.session = session
        self.csrf = csrf

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        async with self.session.get(self.base + path, params=params) as r:
            return r.status, await r.json()

    async def post(self, path: str, body: dict[str, Any] | None = None, *, csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with self.session.post(self.base + path, json=body or {}, headers=headers) as r:
            return r.status, await r.json()


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"STITCH_STORE": f"sqlite:///{tmp_path / 'inbox.db'}", **extra}


async def start(tmp_path: Path, env: dict[str, str]) -> Demo:
    run = await start_demo(Settings.from_env(env), host="127.0.0.1", port=0)
    try:
        for name, role in USERS.items():
            await add_user(run.app[STORE], name, role, PASSWORD)
        story = await play_story(run, out=io.StringIO(), pause=0)
        anna = await run.app[STORE].person_of_profile(story.anna_profiles[0])
        assert anna is not None
    except BaseException:
        await run.close()
        raise
    return Demo(run=run, story=story, anna=anna)


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    running = await start(tmp_path, demo_env(tmp_path))
    yield running
    await running.run.close()


@pytest.fixture
async def clients(demo: Demo) -> AsyncIterator[dict[str, Client]]:
    """One logged-in client per user of USERS."""
    out: dict[str, Client] = {}
    sessions: list[aiohttp.ClientSession] = []
    try:
        for name in USERS:
            session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            sessions.append(session)
            async with session.post(demo.base + "/api/login", json={"name": name, "password": PASSWORD}) as r:
                assert r.status == 200, await r.text()
                out[name] = Client(demo.base, session, (await r.json())["csrf"])
        yield out
    finally:
        for session in sessions:
            await session.close()
