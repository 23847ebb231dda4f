"""Helpers for the ops tests: a seeded store, the app on a loopback port, a planted over-merge."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import ClientSession, web

from app.ingest import Pipeline
from app.replay import replay
from app.web import create_app
from core.config import Settings
from core.records import Evidence, MergeKind, Person, Profile
from core.values import Channel, Identifier, IdKind, Provenance
from resolver.merge import Merger
from store.base import BaseStore

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "impatient-customer.jsonl"
OFFICE_PHONE = "+74951234567"
COLLEAGUES = ("Ирина Соколова", "Дмитрий Орлов", "Мария Кузнецова", "Олег Смирнов", "Анна Белова")
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


async def seed_sample(store: BaseStore, settings: Settings) -> str:
    """Replay the impatient customer's four events; returns the one person they became."""
    summary = await replay(Pipeline(store, settings), [str(SAMPLE)], err=io.StringIO(), progress=False)
    assert summary.skipped == 0
    [(person_id, size)] = await store.largest_persons(1)
    assert size == 4
    return person_id


async def plant_office_phone(store: BaseStore) -> str:
    """Colleagues who typed their office phone into the form, wrongly merged into one person."""
    merger = Merger(store)
    phone = Identifier(kind=IdKind.PHONE, value=OFFICE_PHONE, provenance=Provenance.TYPED)
    persons = []
    async with store.atomic():
        for n, name in enumerate(COLLEAGUES):
            person_id, key = f"p_office{n}", f"webform:visitor-office-{n}"
            at = T0 + timedelta(minutes=n)
            await store.add_person(Person(person_id=person_id, created_at=at, display_name=name))
            await store.put_profile(
                Profile(
                    key=key,
                    channel=Channel.WEBFORM,
                    user_id=f"visitor-office-{n}",
                    account="contact",
                    chat_id="",
                    name=name,
                    handle="",
                    person_id=person_id,
                    first_seen=at,
                    last_seen=at,
                )
            )
            await store.link_identifier(key, phone)
            persons.append(person_id)
        for n, person_id in enumerate(persons[1:], 1):
            evidence = (Evidence(rule="phone", detail="same phone +7 495 ***-**-67", score=14.0),)
            await store.add_edge(f"webform:visitor-office-{n - 1}", f"webform:visitor-office-{n}", 14.0, evidence, T0)
            await merger.perform(persons[0], person_id, kind=MergeKind.AUTO, evidence=evidence, actor="resolver", at=T0)
        await store.mark_shared(f"phone:{OFFICE_PHONE}", "joins people with different names", T0)
    return persons[0]


@dataclass(slots=True)
class Running:
    app: web.Application
    runner: web.AppRunner
    base: str
    session: ClientSession

    def url(self, path: str) -> str:
        return self.base + path

    async def stop(self) -> None:
        await self.session.close()
        await self.runner.cleanup()


async def start(settings: Settings, store: BaseStore | None = None) -> Running:
    app = create_app(settings, store)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Running(app=app, runner=runner, base=f"http://{host}:{port}", session=ClientSession())
