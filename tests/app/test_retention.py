"""Retention: old message texts and raw payloads go, identity links stay."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from test_person_data import _run, _stored_text

from app.ingest import Pipeline
from app.replay import replay
from app.retention import last_sweep, sweep
from app.web import create_app
from core.config import Settings
from core.records import OutboxItem, OutboxStatus
from core.values import Channel
from store.base import BaseStore
from store.sqlite import SqliteStore

SAMPLES = Path(__file__).parent.parent / "payloads" / "contract_samples.jsonl"
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # 40 days after the sample
OLD_TEXTS = ["Kia Rio", "kia rio", "масла", "Автосервис", "старый ответ"]
RECENT = {
    "id": "w9",
    "channel": "whatsapp",
    "received_at": "2026-11-05T10:00:00Z",
    "payload": {
        "SmsMessageSid": "SM9",
        "MessageSid": "SM9",
        "ProfileName": "Alexander",
        "WaId": "79123456789",
        "Body": "А шиномонтаж у вас есть?",
        "From": "whatsapp:+79123456789",
        "To": "whatsapp:+74951234567",
        "AccountSid": "AC8f4e2a7c1d9b3e5f6a0c2d4e6f8a1b3c",
        "NumMedia": "0",
    },
}


def _reply(item_id: str, text: str, at: datetime, status: OutboxStatus, person: str) -> OutboxItem:
    return OutboxItem(
        id=item_id,
        person_id=person,
        profile_key="whatsapp:+79123456789",
        channel=Channel.WHATSAPP,
        text=text,
        status=status,
        created_at=at,
        updated_at=at,
    )


async def test_old_texts_and_payloads_go_and_the_customer_is_still_recognised(
    store: BaseStore, settings: Settings, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    lines = [*SAMPLES.read_text(encoding="utf-8").splitlines(), json.dumps(RECENT, ensure_ascii=False)]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pipeline = Pipeline(store, settings)
    assert (await replay(pipeline, [str(events)], progress=False)).ingested == 5
    (person,) = [p.person_id async for p in store.iter_persons() if p.merged_into is None]
    await store.add_outbox(
        _reply("o_old", "старый ответ", datetime(2026, 10, 1, tzinfo=UTC), OutboxStatus.SENT, person)
    )
    await store.add_outbox(_reply("o_q", "в очереди", datetime(2026, 10, 1, tzinfo=UTC), OutboxStatus.QUEUED, person))
    merges_before = await store.merges()

    done = await sweep(store, 30, now=NOW, vacuum=True)

    assert done.erased["messages"] == 4 and done.erased["events"] == 4 and done.erased["replies"] == 1
    raw = (await _stored_text(store)).decode("utf-8", "replace")
    assert [t for t in OLD_TEXTS if t in raw] == []
    assert "шиномонтаж" in raw and "в очереди" in raw and "+79123456789" in raw
    texts = {m.event_id: m.text for m in await store.messages_of([p.key for p in await store.profiles_of(person)])}
    assert texts["w9"] == "А шиномонтаж у вас есть?" and texts["e1"] == ""
    assert len(await store.profiles_of(person)) == 4 and await store.merges() == merges_before
    old = await store.get_event("e2")
    assert old is not None and old.payload == {}
    # Idempotent, and the sweep is remembered for the ops page.
    again = await sweep(store, 30, now=NOW)
    assert not any(again.erased[k] for k in ("messages", "events", "replies", "crm_jobs"))
    remembered = await last_sweep(store)
    assert remembered is not None and remembered.at == NOW and remembered.erased == again.erased
    # A returning customer is recognised by the links that stayed.
    back = dict(RECENT, id="w10", received_at="2026-11-10T11:00:00Z")
    back["payload"] = dict(RECENT["payload"], MessageSid="SM10", SmsMessageSid="SM10", Body="Снова здравствуйте")
    events.write_text(json.dumps(back, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = await replay(pipeline, [str(events)], progress=False)
    assert summary.ingested == 1 and summary.persons_created == 0


def test_retention_sweep_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert _run(capsys, "replay", "--store", url, str(SAMPLES))[0] == 0
    code, out, err = _run(capsys, "retention", "sweep", "--store", url)
    assert code == 2 and out == "" and "STITCH_RETENTION_DAYS" in err and err.count("\n") == 1
    code, out, err = _run(capsys, "retention", "sweep", "--store", url, "--days", "30", "--vacuum")
    assert code == 0 and out.startswith("retention 30 days:") and "4 messages" in out and out.count("\n") == 1
    assert b"Kia Rio" not in (tmp_path / "s.db").read_bytes()


async def test_serve_sweeps_in_the_background(tmp_path: Path) -> None:
    settings = Settings.from_env({"STITCH_STORE": f"sqlite:///{tmp_path / 's.db'}", "STITCH_RETENTION_DAYS": "30"})
    store = SqliteStore(tmp_path / "s.db")
    await store.open()
    try:
        assert (await replay(Pipeline(store, settings), [str(SAMPLES)], progress=False)).ingested == 4
        async with TestServer(create_app(settings, store)):
            for _ in range(200):
                if await last_sweep(store) is not None:
                    break
                await asyncio.sleep(0.05)
        swept = await last_sweep(store)
        assert swept is not None and swept.days == 30 and swept.erased["messages"] == 4
    finally:
        await store.close()
