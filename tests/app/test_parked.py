"""Poison events: an event whose resolution keeps raising is parked as failed, seen, and retried.

The failing collaborator is the store's message table: a store whose `add_message` refuses the
poisoned events, so their resolution raises inside its unit of work, on SQLite and Redis alike.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from prometheus_client.parser import text_string_to_metric_families

from app.cli import build_parser, main
from app.ingest import Outcome, Pipeline, failure_reason
from app.parked import retry_parked, run_events
from app.replay import replay
from app.streams import RedisStreamQueue, StreamWorker
from app.web import create_app
from connectors.envelope import envelope_from_json
from core.config import Settings, WorkerSettings
from core.errors import NotFound
from core.records import EventStatus, StoredMessage
from core.values import Envelope
from store.base import BaseStore
from store.redis import RedisStore
from store.sqlite import SqliteStore
from tests.conftest import BACKENDS, REDIS_URL, close_store, unique_prefix

SAMPLES = Path(__file__).parent.parent / "payloads" / "contract_samples.jsonl"
POISON = "e2"  # the WhatsApp sample: "Alexander" asking about the oil change


@dataclass(slots=True)
class Poison:
    """Which events the message table refuses, and how often it was asked to store them."""

    ids: set[str] = field(default_factory=lambda: {POISON})
    tries: int = 0

    def check(self, event_id: str) -> None:
        if event_id in self.ids:
            self.tries += 1
            raise RuntimeError("message table refused the row")


class PoisonedSqlite(SqliteStore):
    poison: Poison

    async def add_message(self, message: StoredMessage) -> None:
        self.poison.check(message.event_id)
        await super().add_message(message)


class PoisonedRedis(RedisStore):
    poison: Poison

    async def add_message(self, message: StoredMessage) -> None:
        self.poison.check(message.event_id)
        await super().add_message(message)


Poisoned = PoisonedSqlite | PoisonedRedis


def samples() -> list[Envelope]:
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    return [envelope_from_json(json.loads(line), line=n) for n, line in enumerate(lines, start=1)]


def customer_text() -> str:
    payload = next(e.payload for e in samples() if e.id == POISON)
    return str(payload["Body"])


async def poisoned(kind: str, path: Path) -> Poisoned:
    s: Poisoned
    if kind == "sqlite":
        s = PoisonedSqlite(path)
    else:
        s = PoisonedRedis.from_url(REDIS_URL, prefix=unique_prefix(), lock_lease_s=5, lock_wait_s=20)
    s.poison = Poison()
    await s.open()
    return s


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Poisoned]:
    s = await poisoned(request.param, tmp_path / "stitch.db")
    yield s
    await close_store(s)


@pytest.fixture
async def redis_poisoned(tmp_path: Path) -> AsyncIterator[Poisoned]:
    s = await poisoned("redis", tmp_path)
    yield s
    await close_store(s)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"STITCH_STORE": f"sqlite:///{tmp_path / 'stitch.db'}"})


async def accept_all(pipeline: Pipeline) -> None:
    for envelope in samples():
        assert await pipeline.accept(envelope)


async def test_a_poison_event_is_parked_after_its_attempts_and_retried_once_fixed(
    store: Poisoned, settings: Settings
) -> None:
    pipeline = Pipeline(store, settings)
    await accept_all(pipeline)
    outcomes = {e.id: (await pipeline.settle(e.id)).outcome for e in samples()}
    assert outcomes[POISON] is Outcome.PARKED
    assert {o for i, o in outcomes.items() if i != POISON} == {Outcome.INGESTED}
    assert store.poison.tries == settings.max_attempts == 3
    assert await store.event_status(POISON) is EventStatus.FAILED
    assert await store.count_events(EventStatus.PENDING) == 0
    assert await store.count_events(EventStatus.FAILED) == 1
    [parked] = await store.parked_events(10)
    assert (parked.event_id, parked.channel, parked.attempts) == (POISON, "whatsapp", 3)
    assert parked.reason.startswith("RuntimeError at test_parked.py:") and "refused the row" in parked.reason
    assert customer_text()[:10] not in parked.reason

    # Retried while the cause is still there: parked again, the attempts add up.
    assert (await retry_parked(pipeline, [POISON])).line() == "retried 1: 0 resolved, 1 parked again"
    assert [p.attempts for p in await store.parked_events(10)] == [6]

    store.poison.ids.clear()
    assert (await retry_parked(pipeline)).line() == "retried 1: 1 resolved, 0 parked again"
    assert await store.event_status(POISON) is EventStatus.DONE
    assert await store.parked_events(10) == []
    assert await store.event_counts() == {"done": 4}
    assert (await store.counts())["persons"] == 1  # Alexander joined the impatient customer after all

    with pytest.raises(NotFound):
        await retry_parked(pipeline, ["e1"])  # resolved, not parked


async def test_replay_reports_parks_and_goes_on(store: Poisoned, settings: Settings, tmp_path: Path) -> None:
    err = io.StringIO()
    summary = await replay(Pipeline(store, settings), [str(SAMPLES)], err=err, progress=False)
    assert (summary.lines, summary.ingested, summary.skipped) == (4, 3, 1)
    [line] = err.getvalue().splitlines()
    assert line.startswith(f"{SAMPLES}:2: resolution failed 3 times, parked: RuntimeError")
    assert await store.event_status(POISON) is EventStatus.FAILED
    assert [p.attempts for p in await store.parked_events(10)] == [3]
    # Replaying again stores nothing twice: the parked event is a duplicate like the others.
    again = await replay(Pipeline(store, settings), [str(SAMPLES)], err=io.StringIO(), progress=False)
    assert (again.duplicates, again.skipped) == (4, 0)


@dataclass(slots=True)
class Running:
    app: web.Application
    runner: web.AppRunner
    base: str
    session: ClientSession

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.base + path) as r:
            return r.status, await r.text()


@pytest.fixture
async def start() -> AsyncIterator[object]:
    running: list[Running] = []

    async def go(settings: Settings, store: BaseStore) -> Running:
        runner = web.AppRunner(create_app(settings, store), handle_signals=False, access_log=None, shutdown_timeout=1)
        await runner.setup()  # start-up: pending events are resolved here (SQLite)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        running.append(Running(app=runner.app, runner=runner, base=f"http://{host}:{port}", session=ClientSession()))
        return running[-1]

    yield go
    for r in running:
        await r.session.close()
        await r.runner.cleanup()


async def resolve_pending(store: Poisoned, settings: Settings) -> None:
    """What start-up does with the events it finds pending: SQLite's server resolves them itself; with
    Redis they wait in the ingest stream for `stitch worker`."""
    if isinstance(store, PoisonedRedis):
        queue = RedisStreamQueue(store, settings.worker)
        await queue.enqueue_many([e.id for e in samples()])
        worker = StreamWorker(Pipeline(store, settings), queue, name="w1")
        assert await worker.run(exit_when_idle=True) == 4  # every entry acknowledged, the poisoned one too
        assert await queue.backlog() == 0


async def test_start_up_with_a_poison_event_pending_succeeds_and_shows_it(
    store: Poisoned, settings: Settings, start: object
) -> None:
    await accept_all(Pipeline(store, settings))  # accepted, then the process stopped before resolving
    await resolve_pending(store, settings)
    running: Running = await start(settings, store)  # type: ignore[operator]

    status, body = await running.get("/readyz")
    ready = json.loads(body)
    assert status == 200 and ready["parked"] == 1 and ready["pending"] == 0 and ready["backlog"] == 0

    status, text = await running.get("/metrics")
    samples_seen = {
        (s.name, tuple(s.labels.values())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }
    assert samples_seen[("stitch_events_parked", ())] == 1
    assert samples_seen[("stitch_events_stored", ("failed",))] == 1
    assert samples_seen[("stitch_events_stored", ("pending",))] == 0

    status, html = await running.get("/ops/failures")
    assert status == 200 and POISON in html and "RuntimeError" in html and "Retry" in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf is not None

    store.poison.ids.clear()  # the cause is fixed
    async with running.session.post(
        f"{running.base}/ops/events/{POISON}/retry", data={"csrf": csrf.group(1)}, allow_redirects=False
    ) as r:
        assert r.status == 303 and "1+resolved" in r.headers["Location"]
    assert await store.event_status(POISON) is EventStatus.DONE
    status, html = await running.get("/ops/failures")
    assert "No parked events." in html
    ready = json.loads((await running.get("/readyz"))[1])
    assert ready["parked"] == 0 and ready["pending"] == 0


async def test_readyz_counts_what_the_store_holds_pending(store: Poisoned, settings: Settings, start: object) -> None:
    running: Running = await start(replace(settings, ready_max_backlog=2), store)  # type: ignore[operator]
    for envelope in samples()[:2]:
        async with store.atomic():
            await store.add_event(envelope)  # stored, handed to nobody: still waiting
    status, body = await running.get("/readyz")
    ready = json.loads(body)
    assert status == 503 and ready["pending"] == 2 and ready["backlog"] == 2 and not ready["keeping_up"]


async def test_the_stream_dead_letter_path_parks_the_event(redis_store: RedisStore, settings: Settings) -> None:
    worker_settings = WorkerSettings(claim_idle_s=0.0, max_deliveries=1)
    pipeline = Pipeline(redis_store, settings)
    queue = RedisStreamQueue(redis_store, worker_settings)
    await queue.ensure_group()
    assert await pipeline.accept(next(e for e in samples() if e.id == POISON))
    await queue.enqueue(POISON)
    # A worker that took the entry and died with it, once...
    await redis_store.client.xreadgroup("resolvers", "ghost", {queue.stream: ">"}, count=1)
    # ...and the next takes it over: delivered more than max_deliveries times, it is dead-lettered.
    await StreamWorker(pipeline, queue, name="w2").run(exit_when_idle=True)
    [dead] = await queue.dead_letters()
    assert dead.event_id == POISON
    [parked] = await redis_store.parked_events(10)
    assert (parked.event_id, parked.attempts, parked.reason) == (POISON, dead.deliveries, dead.reason)
    assert await redis_store.count_events(EventStatus.PENDING) == 0


async def test_events_commands_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    settings = Settings.from_env({"STITCH_STORE": url})
    store = await poisoned("sqlite", tmp_path / "cli.db")
    try:
        await replay(Pipeline(store, settings), [str(SAMPLES)], err=io.StringIO(), progress=False)
    finally:
        await store.close()
    capsys.readouterr()

    assert await _main("events", "failed", "--store", url) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header == "id\tchannel\treceived_at\tattempts\treason"
    event_id, channel, received_at, attempts, reason = row.split("\t")
    assert (event_id, channel, received_at, attempts) == (POISON, "whatsapp", "2026-10-01T09:59:10+00:00", "3")
    assert reason.startswith("RuntimeError")

    assert await _main("events", "retry", "nosuch", "--store", url) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == "stitch: unknown parked event 'nosuch'\n"

    # `stitch` opens the plain store: the message table refuses nothing any more.
    assert await _main("events", "retry", POISON, "--store", url) == 0
    assert capsys.readouterr().out == "retried 1: 1 resolved, 0 parked again\n"
    assert await _main("events", "failed", "--store", url) == 0
    assert capsys.readouterr().out == "no parked events\n"


async def test_events_commands_on_redis(
    redis_poisoned: Poisoned, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    store = redis_poisoned
    await replay(Pipeline(store, settings), [str(SAMPLES)], err=io.StringIO(), progress=False)
    capsys.readouterr()
    assert await run_events(_args("events", "failed"), store, settings) == 0
    [row] = capsys.readouterr().out.splitlines()[1:]
    assert row.startswith(f"{POISON}\twhatsapp\t")
    with pytest.raises(NotFound):
        await run_events(_args("events", "retry", "e1"), store, settings)
    store.poison.ids.clear()
    assert await run_events(_args("events", "retry"), store, settings) == 0
    assert capsys.readouterr().out == "retried 1: 1 resolved, 0 parked again\n"
    assert await store.event_counts() == {"done": 4}


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


async def _main(*argv: str) -> int:
    # `stitch` runs its own event loop: run it off this test's loop.
    return await asyncio.to_thread(main, list(argv))


def test_a_reason_names_the_error_and_never_quotes_the_customer() -> None:
    text = customer_text()
    try:
        raise ValueError(f"cannot fold {text!r}")
    except ValueError as e:
        quoting = failure_reason(e, text)
    assert quoting.startswith("ValueError at test_parked.py:") and text[:10] not in quoting
    assert quoting.endswith("(detail withheld: it quotes the message)")
    try:
        raise LookupError("no region for +79123456789\nsecond line")
    except LookupError as e:
        masked = failure_reason(e, text)
    assert "+79123456789" not in masked and "second line" not in masked and "no region for" in masked


async def test_a_file_from_before_parking_gets_the_attempts_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,"
            " channel TEXT NOT NULL, received_at REAL NOT NULL, envelope TEXT NOT NULL, status TEXT NOT NULL,"
            " reason TEXT NOT NULL DEFAULT '')"
        )
    db.close()
    store = await poisoned("sqlite", path)
    try:
        settings = Settings.from_env({"STITCH_STORE": f"sqlite:///{path}"})
        await replay(Pipeline(store, settings), [str(SAMPLES)], err=io.StringIO(), progress=False)
        assert [(p.event_id, p.attempts) for p in await store.parked_events(10)] == [(POISON, 3)]
    finally:
        await store.close()
