"""The in-process resolver of accepted events: rounds, savepoints, observers after the commit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.ingest import IngestResult, Outcome, Pipeline
from app.processor import Processor
from connectors.envelope import envelope_from_json
from core.config import Settings
from core.records import EventStatus
from core.values import Envelope
from store.sqlite import SqliteStore

SAMPLES = Path(__file__).parent.parent / "payloads" / "contract_samples.jsonl"
WHOLE_ROUND_S = 60.0  # a budget no test reaches: the round ends when the queue is empty


def samples() -> list[Envelope]:
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    return [envelope_from_json(json.loads(line), line=n) for n, line in enumerate(lines, start=1)]


class Statements:
    """The statements the store's connection runs (sqlite3's trace callback)."""

    def __init__(self, store: SqliteStore) -> None:
        self.seen: list[str] = []
        store.db.set_trace_callback(self.seen.append)

    def count(self, statement: str) -> int:
        return sum(1 for s in self.seen if s == statement)


@pytest.fixture
async def pipeline(sqlite_store: SqliteStore, settings: Settings) -> AsyncIterator[Pipeline]:
    yield Pipeline(sqlite_store, settings)


async def accept_all(pipeline: Pipeline, processor: Processor, envelopes: list[Envelope]) -> None:
    for envelope in envelopes:
        assert await pipeline.accept(envelope)
        await processor.enqueue(envelope.id)


async def test_waiting_events_resolve_in_one_transaction_then_observers_hear(
    pipeline: Pipeline, sqlite_store: SqliteStore
) -> None:
    heard: list[tuple[str, Outcome, EventStatus | None]] = []

    async def observer(result: IngestResult) -> None:
        heard.append((result.event_id, result.outcome, await sqlite_store.event_status(result.event_id)))

    pipeline.observers.append(observer)
    processor = Processor(pipeline, budget_s=WHOLE_ROUND_S)
    await processor.start()
    try:
        envelopes = samples()
        await accept_all(pipeline, processor, envelopes)
        statements = Statements(sqlite_store)
        await processor.idle()
    finally:
        await processor.stop()
    assert heard == [(e.id, Outcome.INGESTED, EventStatus.DONE) for e in envelopes]
    # One transaction resolves the four events (a savepoint each), one more holds the observers' writes.
    assert statements.count("BEGIN IMMEDIATE") == 2 and statements.count("COMMIT") == 2
    assert (await sqlite_store.counts())["persons"] == 1  # the impatient customer, as in replay


async def test_a_failing_event_rolls_back_alone_and_is_parked(pipeline: Pipeline, sqlite_store: SqliteStore) -> None:
    envelopes = samples()
    broken = envelopes[1].id
    heard: list[str] = []
    tries: list[str] = []

    async def effect(result: IngestResult) -> None:
        if result.event_id == broken:
            tries.append(broken)
            raise RuntimeError("the CRM queue refused this one")

    async def observer(result: IngestResult) -> None:
        if result.outcome is Outcome.INGESTED:
            heard.append(result.event_id)

    pipeline.effects.append(effect)
    pipeline.observers.append(observer)
    processor = Processor(pipeline, budget_s=WHOLE_ROUND_S)
    await processor.start()
    try:
        await accept_all(pipeline, processor, envelopes)
        await processor.idle()
    finally:
        await processor.stop()
    assert await sqlite_store.event_status(broken) is EventStatus.FAILED
    assert len(tries) == pipeline.max_attempts == 3
    assert heard == [e.id for e in envelopes if e.id != broken]
    assert await sqlite_store.event_counts() == {"done": 3, "failed": 1}
    stored = [m.event_id async for m in sqlite_store.iter_messages()]
    assert sorted(stored) == sorted(e.id for e in envelopes if e.id != broken)


async def test_other_tasks_run_between_rounds(pipeline: Pipeline, sqlite_store: SqliteStore) -> None:
    first_told = asyncio.Event()
    seen_between: list[dict[str, int]] = []

    async def observer(result: IngestResult) -> None:
        first_told.set()

    async def request_meanwhile() -> None:
        # Stands for a webhook arriving while events wait: it runs before the next round starts.
        await first_told.wait()
        seen_between.append(await sqlite_store.event_counts())

    pipeline.observers.append(observer)
    processor = Processor(pipeline, budget_s=0.0)  # one event per round
    await processor.start()
    try:
        waiter = asyncio.create_task(request_meanwhile())
        await accept_all(pipeline, processor, samples())
        await processor.idle()
        await waiter
    finally:
        await processor.stop()
    assert seen_between == [{"done": 1, "pending": 3}]
    assert await sqlite_store.event_counts() == {"done": 4}
