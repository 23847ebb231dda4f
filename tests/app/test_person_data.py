"""One person's data: export everything, erase everything, and nothing of anyone else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app import personal
from app.cli import main
from app.ingest import Pipeline
from app.replay import replay
from core.config import Settings
from core.errors import Erased, MergeRefused, NotFound
from core.inbox import AuditEntry, Deal, DealKind
from core.records import CrmJob, OutboxItem, OutboxStatus
from core.values import Channel
from store.base import BaseStore
from store.redis import RedisStore
from store.sqlite import SqliteStore

SAMPLES = Path(__file__).parent.parent / "payloads" / "contract_samples.jsonl"
AT = datetime(2026, 10, 2, 12, 0, tzinfo=UTC)

# Two more customers who have nothing in common with the sample's Саша Петров.
OTHERS = [
    {
        "id": "z1",
        "channel": "webform",
        "received_at": "2026-10-01T11:00:00Z",
        "payload": {
            "form_id": "contact",
            "name": "Зинаида Кузнецова",
            "phone": "+7 (903) 111-22-33",
            "email": "zina.k@yandex.ru",
            "message": "Нужна покраска бампера на Ладу Весту",
            "page_url": "https://example.com/contacts",
            "visitor_id": "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
        },
    },
    {
        "id": "i1",
        "channel": "telegram",
        "received_at": "2026-10-01T12:00:00Z",
        "payload": {
            "update_id": 700474999,
            "message": {
                "message_id": 101,
                "date": 1790856000,
                "from": {"id": 777000111, "is_bot": False, "first_name": "Ivan", "last_name": "Smirnov"},
                "chat": {"id": 777000111, "type": "private", "first_name": "Ivan"},
                "text": "Do you fix brakes on a Ford Focus?",
            },
        },
    },
]

# What must be unreadable after the erasure: phone (as stored and as typed), e-mail, names, user ids,
# message and reply texts of Саша Петров.
SECRETS = [
    "9123456789",
    "345-67-89",
    "a.petrov@mail.ru",
    "Петров",
    "Саша",
    "Alexander",
    "sasha_p",
    "5651074222",
    "Kia Rio",
    "kia rio",
    "масла",
    "2500 рублей",
]
# What must still be there: the others.
KEPT = ["9031112233", "zina.k@yandex.ru", "Зинаида", "покраска бампера", "Ford Focus", "777000111"]


async def _fill(store: BaseStore, settings: Settings, tmp_path: Path) -> Pipeline:
    events = tmp_path / "events.jsonl"
    lines = SAMPLES.read_text(encoding="utf-8").splitlines() + [json.dumps(e, ensure_ascii=False) for e in OTHERS]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pipeline = Pipeline(store, settings)
    summary = await replay(pipeline, [str(events)], progress=False)
    assert summary.ingested == 6 and summary.skipped == 0
    return pipeline


async def _sasha(store: BaseStore) -> tuple[str, list[str]]:
    """The sample's person, and the three persons merged into it."""
    persons = [p async for p in store.iter_persons()]
    root = next(p.person_id for p in persons if p.merged_into is None and p.display_name == "Саша Петров")
    return root, [p.person_id for p in persons if p.merged_into == root]


async def _decorate(store: BaseStore, root: str) -> None:
    """What the inbox and the CRM push add around a person: a reply, a deal, a job, an audit entry."""
    lead = await store.open_lead_of(root)
    assert lead is not None
    await store.add_outbox(
        OutboxItem(
            id="o_1",
            person_id=root,
            profile_key="whatsapp:+79123456789",
            channel=Channel.WHATSAPP,
            text="Замена стоит 2500 рублей",
            status=OutboxStatus.SENT,
            created_at=AT,
            updated_at=AT,
            actor="mia",
            provider_message_id="SMreply1",
        )
    )
    deal = Deal(
        deal_id="d_1",
        lead_id=lead.lead_id,
        person_id=root,
        kind=DealKind.CONTACT,
        title="Саша Петров: Kia Rio",
        created_at=AT,
        actor="mia",
        contact_name="Саша Петров",
        contact_phone="+79123456789",
        contact_email="a.petrov@mail.ru",
    )
    await store.add_deal(deal)
    job = CrmJob(
        job_id="comment:x1",
        kind="comment",
        subject=lead.lead_id,
        created_at=AT,
        due_at=AT,
        payload={"text": "Telegram · Саша Петров:\nKia Rio"},
    )
    await store.add_crm_job(job)
    await store.set_crm_link("contact", root, 42)
    entry = AuditEntry(entry_id="a_1", at=AT, actor="mia", action="reply", person_id=root, detail="to Саша Петров")
    await store.add_audit(entry)


async def _stored_text(store: BaseStore) -> bytes:
    """Every byte the store keeps: the SQLite files, or each Redis key's name, DUMP and value."""
    if isinstance(store, SqliteStore):
        return b"".join(p.read_bytes() for p in Path(store.path).parent.glob(Path(store.path).name + "*"))
    assert isinstance(store, RedisStore)
    out: list[bytes] = []
    async for key in store.client.scan_iter(match=store.key("*")):
        out.append(key.encode())
        kind = await store.client.type(key)
        value: Any
        if kind == "hash":
            value = await store.client.hgetall(key)
        elif kind == "zset":
            value = await store.client.zrange(key, 0, -1)
        elif kind == "set":
            value = sorted(await store.client.smembers(key))
        elif kind == "list":
            value = await store.client.lrange(key, 0, -1)
        elif kind == "string":
            value = await store.client.get(key)
        else:
            value = kind
        out.append(json.dumps(value, ensure_ascii=False).encode())
        dumped = await store.client.execute_command("DUMP", key, NEVER_DECODE=True)
        out.append(dumped or b"")
    return b"\n".join(out)


async def _others(store: BaseStore, root: str) -> dict[str, Any]:
    docs = {}
    async for p in store.iter_persons():
        if p.merged_into is None and p.person_id != root:
            doc = await personal.export_person(store, p.person_id, at=AT)
            docs[p.person_id] = doc
    return docs


async def test_export_holds_everything_of_the_person_from_any_of_their_ids(
    store: BaseStore, settings: Settings, tmp_path: Path
) -> None:
    await _fill(store, settings, tmp_path)
    root, merged = await _sasha(store)
    await _decorate(store, root)
    doc = await personal.export_person(store, merged[0], at=AT)
    assert doc["person_id"] == root and doc["requested_id"] == merged[0]
    assert {p["channel"] for p in doc["profiles"]} == {"telegram", "whatsapp", "avito", "webform"}
    assert {(i["type"], i["value"]) for i in doc["identifiers"]} >= {
        ("email", "a.petrov@mail.ru"),
        ("phone", "+79123456789"),
    }
    assert len(doc["messages"]) == 4 and any("Kia Rio" in m["text"] for m in doc["messages"])
    assert [e["event_id"] for e in doc["raw_events"]] == ["e1", "e2", "e3", "e4"]
    assert doc["replies"][0]["text"] == "Замена стоит 2500 рублей"
    assert len(doc["leads"]) == 1 and doc["deals"][0]["contact_email"] == "a.petrov@mail.ru"
    assert len(doc["merges"]) == 3 and all(m["evidence"] for m in doc["merges"])
    assert doc["crm_links"] == [{"entity": "contact", "stitch_id": root, "remote_id": 42}]
    text = json.dumps(doc, ensure_ascii=False)
    assert "Зинаида" not in text and "Ford Focus" not in text


async def test_forget_leaves_nothing_of_the_person_and_everyone_else_as_they_were(
    store: BaseStore, settings: Settings, tmp_path: Path
) -> None:
    pipeline = await _fill(store, settings, tmp_path)
    root, merged = await _sasha(store)
    await _decorate(store, root)
    merges = [m.merge_id for m in await store.merges()]
    before = await _others(store, root)
    raw = (await _stored_text(store)).decode("utf-8", "replace")
    assert all(s in raw for s in SECRETS + KEPT)  # the check below would find them

    summary = await personal.forget(store, merged[1], actor="ada", at=AT)

    assert summary.person_id == root and summary.profiles == 4 and summary.messages == 4 and summary.events == 4
    assert summary.render().startswith(f"person {root} erased: 4 profiles, 4 messages, 1 replies")
    if isinstance(store, SqliteStore):
        await store.close()  # the files as they are at rest
        await store.open()
    raw = (await _stored_text(store)).decode("utf-8", "replace")
    assert [s for s in SECRETS if s in raw] == []
    assert all(s in raw for s in KEPT)
    assert await _others(store, root) == before
    counts = await store.counts()
    assert counts["profiles"] == 2 and counts["messages"] == 2
    # The audit keeps that it happened, by whom and when, and nothing about the person.
    (entry,) = [a for a in await store.audit_log(person_ids=[root]) if a.action == "person.forget"]
    assert entry.actor == "ada" and entry.at == AT and entry.detail == ""
    assert await store.forgotten(merged[0])
    with pytest.raises(Erased):
        await personal.forget(store, root, actor="ada", at=AT)
    with pytest.raises(Erased):
        await personal.export_person(store, merged[2], at=AT)
    with pytest.raises(MergeRefused, match="erased"):
        await pipeline.merger.split(merges[0], actor="ada", at=AT)
    with pytest.raises(NotFound):
        await personal.forget(store, "p_nobody", actor="ada", at=AT)


async def test_a_returning_customer_after_an_erasure_is_a_new_person(
    store: BaseStore, settings: Settings, tmp_path: Path
) -> None:
    pipeline = await _fill(store, settings, tmp_path)
    root, _ = await _sasha(store)
    await personal.forget(store, root, actor="ada", at=AT)
    again = json.loads(SAMPLES.read_text(encoding="utf-8").splitlines()[3])
    again["id"] = "e9"
    again["payload"]["message"] = "Снова я: нужен шиномонтаж"
    events = tmp_path / "again.jsonl"
    events.write_text(json.dumps(again, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = await replay(pipeline, [str(events)], progress=False)
    assert summary.ingested == 1 and summary.persons_created == 1


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_person_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert _run(capsys, "replay", "--store", url, str(SAMPLES))[0] == 0
    code, out, _ = _run(capsys, "export", "--store", url, "--what", "persons")
    pid = json.loads(out)["person_id"]
    target = tmp_path / "person.json"
    code, out, err = _run(capsys, "person", "export", pid, "--store", url, "--out", str(target))
    assert code == 0 and out == "" and err == ""
    assert len(json.loads(target.read_text(encoding="utf-8"))["messages"]) == 4
    # No terminal (pytest's stdin) and no --yes: refused, nothing erased.
    code, out, err = _run(capsys, "person", "forget", pid, "--store", url)
    assert code == 1 and err.count("\n") == 1 and "--yes" in err
    code, out, err = _run(capsys, "person", "forget", pid, "--store", url, "--yes", "--actor", "dpo")
    assert code == 0 and out.startswith(f"person {pid} erased: 4 profiles") and out.count("\n") == 1
    for args in (("forget", pid, "--yes"), ("export", pid), ("forget", "p_nobody", "--yes"), ("export", "")):
        code, out, err = _run(capsys, "person", *args, "--store", url)
        assert code == 1 and out == "" and err.startswith("stitch: ") and err.count("\n") == 1


async def test_forget_blanks_the_audit_target_that_named_a_profile_by_its_number(
    store: BaseStore, settings: Settings, tmp_path: Path
) -> None:
    await _fill(store, settings, tmp_path)
    root, _ = await _sasha(store)
    # The inbox audits an identifier added by a manager against the person's oldest profile key.
    entry = AuditEntry(
        entry_id="a_2",
        at=AT,
        actor="mia",
        action="identifier.add",
        person_id=root,
        target="whatsapp:+79123456789",
        detail="a***@mail.ru",
    )
    await store.add_audit(entry)
    await personal.forget(store, root, actor="ada", at=AT)
    await store.close()
    await store.open()
    raw = (await _stored_text(store)).decode("utf-8", "replace")
    assert "9123456789" not in raw
    [kept] = [a for a in await store.audit_log(person_ids=[root]) if a.entry_id == "a_2"]
    assert kept.actor == "mia" and kept.action == "identifier.add" and kept.target == "" and kept.detail == ""
