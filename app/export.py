"""`stitch export`: what the resolver decided, as JSON Lines or CSV (contract: replay-and-export.md)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from enum import StrEnum
from typing import Any, TextIO

from core.records import MergeRecord
from store.base import MAX_ALIAS_DEPTH, BaseStore


class What(StrEnum):
    EVENTS = "events"
    PERSONS = "persons"
    SUGGESTIONS = "suggestions"
    MERGES = "merges"


class Roots:
    """Alias forests (persons, leads) loaded once, so exporting a million rows costs no lookups."""

    def __init__(self, parent: Mapping[str, str | None]) -> None:
        self.parent = parent
        self.cache: dict[str, str] = {}

    def __call__(self, node: str) -> str:
        if node in self.cache:
            return self.cache[node]
        current = node
        for _ in range(MAX_ALIAS_DEPTH):
            nxt = self.parent.get(current)
            if nxt is None:
                break
            current = nxt
        self.cache[node] = current
        return current


async def person_roots(store: BaseStore) -> Roots:
    return Roots({p.person_id: p.merged_into async for p in store.iter_persons()})


async def lead_roots(store: BaseStore) -> Roots:
    return Roots({lead.lead_id: lead.merged_into async for lead in store.iter_leads()})


def evidence_json(record_evidence: Any) -> list[dict[str, Any]]:
    return [{"rule": e.rule, "detail": e.detail, "score": e.score} for e in record_evidence]


async def rows(store: BaseStore, what: What) -> AsyncIterator[dict[str, Any]]:
    if what is What.EVENTS:
        roots = await person_roots(store)
        leads = await lead_roots(store)
        owner = {p.key: p.person_id async for p in store.iter_profiles()}
        async for m in store.iter_messages():
            yield {
                "event_id": m.event_id,
                "person_id": roots(owner[m.profile_key]),
                "lead_id": leads(m.lead_id),
                "channel": m.channel.value,
                "profile": m.profile_key,
                "at": m.sent_at.isoformat(),
            }
    elif what is What.PERSONS:
        async for row in _persons(store):
            yield row
    elif what is What.SUGGESTIONS:
        roots = await person_roots(store)
        for s in await store.suggestions():
            a, b = roots(s.a), roots(s.b)
            if a != b:
                yield {
                    "suggestion_id": s.suggestion_id,
                    "a": a,
                    "b": b,
                    "score": s.score,
                    "evidence": evidence_json(s.evidence),
                    "created_at": s.created_at.isoformat(),
                }
    else:
        for record in reversed(await store.merges()):
            yield merge_row(record)


def merge_row(record: MergeRecord) -> dict[str, Any]:
    return {
        "merge_id": record.merge_id,
        "at": record.at.isoformat(),
        "kind": record.kind.value,
        "into": record.into,
        "from": record.from_,
        "evidence": evidence_json(record.evidence),
        "actor": record.actor,
        "undone_by": record.undone_by,
        "undoes": record.undoes,
    }


async def _persons(store: BaseStore) -> AsyncIterator[dict[str, Any]]:
    roots = await person_roots(store)
    leads = await lead_roots(store)
    profiles_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    keys_of: dict[str, list[str]] = defaultdict(list)
    async for p in store.iter_profiles():
        root = roots(p.person_id)
        keys_of[root].append(p.key)
        profiles_of[root].append(
            {
                "channel": p.channel.value,
                "account": p.account,
                "user_id": p.user_id,
                "handle": p.handle,
                "name": p.name,
                "profile": p.key,
            }
        )
    leads_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    async for lead in store.iter_leads():
        if leads(lead.lead_id) == lead.lead_id:
            leads_of[roots(lead.person_id)].append(
                {"lead_id": lead.lead_id, "status": lead.status.value, "is_repeat": lead.is_repeat}
            )
    async for person in store.iter_persons():
        if person.merged_into is not None:
            continue
        pid = person.person_id
        idents = await store.identifiers_of(keys_of.get(pid, []))
        seen = sorted({(i.kind.value, i.value) for values in idents.values() for i in values})
        person_leads = leads_of.get(pid, [])
        yield {
            "person_id": pid,
            "display_name": person.display_name,
            "profiles": profiles_of.get(pid, []),
            "identifiers": [{"type": k, "value": v} for k, v in seen],
            "leads": [lead["lead_id"] for lead in person_leads],
            "responsible": person.responsible,
            "created_at": person.created_at.isoformat(),
            "is_repeat": len(person_leads) > 1 or any(lead["is_repeat"] for lead in person_leads),
        }


async def export(store: BaseStore, what: What, out: TextIO, *, fmt: str = "jsonl") -> int:
    count = 0
    writer: csv.DictWriter[str] | None = None
    async for row in rows(store, what):
        if fmt == "csv":
            flat = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for k, v in row.items()}
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(flat))
                writer.writeheader()
            writer.writerow(flat)
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
