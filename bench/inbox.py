"""The inbox with many persons: list page and search latency over HTTP.

    python -m bench.inbox --persons 100000

Persons, profiles, identifiers and inbox rows are inserted directly (replaying a month of traffic
for 100,000 persons takes minutes and measures the resolver, not the inbox); then the real app
serves the pages on a loopback port and a logged-in client times them.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from app.inbox.auth import add_user
from app.web import create_app
from core.config import Settings
from core.inbox import InboxRow, Role
from core.records import Person, Profile
from core.values import Channel, Identifier, IdKind, Provenance
from store.sqlite import SqliteStore

GIVEN = ["Анна", "Мария", "Иван", "Пётр", "Ольга", "Alexander", "Julia", "Tomasz", "Agnieszka", "Сергей", "Елена"]
FAMILY = ["Смирнова", "Иванов", "Kowalski", "Petrov", "Nowak", "Соколова", "Smith", "Lebedev", "Wójcik", "Попов"]
MANAGERS = ["mia", "leo", "max", "eva"]
PASSWORD = "bench-password-1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def fill(store: SqliteStore, persons: int, seed: int) -> list[tuple[str, str, str]]:
    """Insert persons; returns (person id, phone, e-mail) samples for searches."""
    rng = random.Random(seed)
    samples: list[tuple[str, str, str]] = []
    batch = 5000
    for start in range(0, persons, batch):
        async with store.atomic():
            for i in range(start, min(persons, start + batch)):
                pid = f"p_{i:08x}"
                name = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"
                at = T0 + timedelta(seconds=i * 30)
                phone = f"+7912{i:07d}"
                email = f"user{i}@example.org"
                channel = rng.choice([Channel.TELEGRAM, Channel.WHATSAPP, Channel.AVITO])
                key = f"{channel}:{i}"
                responsible = rng.choice([*MANAGERS, ""])
                await store.add_person(Person(person_id=pid, created_at=at, display_name=name, responsible=responsible))
                await store.put_profile(
                    Profile(
                        key=key,
                        channel=channel,
                        user_id=str(i),
                        account="a",
                        chat_id=str(i),
                        name=name,
                        handle=f"h{i}",
                        person_id=pid,
                        first_seen=at,
                        last_seen=at,
                    )
                )
                await store.link_identifier(key, Identifier(kind=IdKind.PHONE, value=phone))
                await store.link_identifier(
                    key, Identifier(kind=IdKind.EMAIL, value=email, provenance=Provenance.TYPED)
                )
                unread = rng.random() < 0.1
                await store.put_inbox_row(
                    InboxRow(
                        person_id=pid,
                        display_name=name,
                        responsible=responsible,
                        last_at=at,
                        last_channel=str(channel),
                        channels=(str(channel),),
                        unread=int(unread),
                        awaiting_since=at if unread else None,
                        repeat_lead=rng.random() < 0.2,
                    )
                )
                if i % (persons // 20 or 1) == 0:
                    samples.append((pid, phone, email))
    return samples


async def timed(session: aiohttp.ClientSession, url: str, runs: int) -> tuple[float, float]:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        async with session.get(url) as r:
            await r.read()
            assert r.status == 200, (url, r.status)
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.95) - 1]


async def run(persons: int, runs: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "inbox.db")
        await store.open()
        started = time.perf_counter()
        samples = await fill(store, persons, seed)
        print(f"inserted {persons:,} persons in {time.perf_counter() - started:.0f} s")
        await add_user(store, "sue", Role.SUPERVISOR, PASSWORD)
        await add_user(store, "mia", Role.MANAGER, PASSWORD)
        app = create_app(Settings.from_env({"STITCH_STORE": store.url}), store)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        try:
            print(f"| request ({persons:,} persons) | median ms | p95 ms |\n|---|---:|---:|")
            for who in ("sue", "mia"):
                async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
                    async with s.post(base + "/api/login", json={"name": who, "password": PASSWORD}) as r:
                        assert r.status == 200
                    pid, phone, email = samples[len(samples) // 2]
                    cases = {
                        f"{who}: list page 1 (HTML)": "/inbox/",
                        f"{who}: list page 200 (HTML)": "/inbox/?page=200",
                        f"{who}: list, repeat-lead filter (API)": "/api/persons?flag=repeat_lead",
                        f"{who}: search by name (API)": "/api/persons?q=Анна+Смирнова",
                        f"{who}: search by name prefix (API)": "/api/persons?q=kowal",
                        f"{who}: search by phone (API)": f"/api/persons?q={phone}",
                        f"{who}: search by e-mail (API)": f"/api/persons?q={email}",
                        f"{who}: search by person id (API)": f"/api/persons?q={pid}",
                    }
                    for label, path in cases.items():
                        median, p95 = await timed(s, base + path, runs)
                        print(f"| {label} | {median:.1f} | {p95:.1f} |")
        finally:
            await runner.cleanup()
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(run(args.persons, args.runs, args.seed))


if __name__ == "__main__":
    main()
