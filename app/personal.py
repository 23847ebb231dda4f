"""One person's data (GDPR, 152-FZ): everything Stitch holds about them, as one document, or erased.

`gather` reads it all once (any id of the person, merged-away ids too); `export_document` turns it
into the JSON the data subject gets; `forget` erases it and leaves one audit entry without personal
data. Contract: replay-and-export.md, "One person's data".
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.export import merge_row
from connectors.parsers import parse_envelope
from core.erasure import FORGET_ACTION, Erasure
from core.errors import Erased, InputError, NotFound
from core.inbox import AuditEntry, Deal
from core.records import (
    CrmJob,
    CrmJobStatus,
    Lead,
    MergeRecord,
    OutboxItem,
    Person,
    Profile,
    StoredMessage,
    Suggestion,
    SuggestionStatus,
)
from core.values import Envelope, Identifier, Message
from store.base import BaseStore

log = logging.getLogger("stitch.personal")

# Far above any one person's history: their messages and replies are read in one call each.
ALL = 10_000_000
# The CRM entities a person's ids may be mapped to (crm/bitrix24/sync.py), by the id mapped.
PERSON_ENTITIES = ("contact", "company")
LEAD_ENTITIES = ("lead", "deal")  # a lead is a Bitrix24 deal in the portal's simple mode
ERASED_JOB = "person erased"


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """Everything one person has in the store, read once."""

    root: str
    persons: tuple[Person, ...]
    profiles: tuple[Profile, ...]
    identifiers: dict[str, list[Identifier]]
    events: tuple[Envelope, ...]
    messages: tuple[StoredMessage, ...]
    replies: tuple[OutboxItem, ...]
    leads: tuple[Lead, ...]
    deals: tuple[Deal, ...]
    merges: tuple[MergeRecord, ...]
    suggestions: tuple[Suggestion, ...]
    crm_links: tuple[tuple[str, str, int], ...]
    crm_jobs: tuple[CrmJob, ...]
    audit: tuple[AuditEntry, ...]

    @property
    def member_ids(self) -> list[str]:
        return [p.person_id for p in self.persons]


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgetSummary:
    person_id: str
    profiles: int
    messages: int
    replies: int
    events: int
    merges: int
    crm_removed: int = 0

    def render(self) -> str:
        crm = f", {self.crm_removed} CRM records removed" if self.crm_removed else ""
        return (
            f"person {self.person_id} erased: {self.profiles} profiles, {self.messages} messages,"
            f" {self.replies} replies, {self.events} raw events; {self.merges} merge records kept"
            f" without evidence{crm}"
        )


# Removes what the CRM mirrors of the person before Stitch forgets the mapping; returns how many records.
CrmEraser = Callable[[Found], Awaitable[int]]


async def gather(store: BaseStore, person_id: str, *, region: str = "RU") -> Found:
    """Raises NotFound for an unknown id and Erased for a person already erased."""
    if not person_id or await store.get_person(person_id) is None:
        raise NotFound("person", person_id)
    if await store.forgotten(person_id):
        raise Erased(person_id)
    root = await store.root_of(person_id)
    members = await store.members_of(root)
    member_set = set(members)
    persons = [p for p in [await store.get_person(m) for m in members] if p is not None]
    keys = await store.profile_keys_of(members)
    found_profiles = await store.get_profiles(keys)
    messages = await store.messages_of(keys, limit=ALL)
    leads = await store.leads_of(members)
    deals = await store.deals_of(members)
    merges = [m for m in await store.merges() if m.into in member_set or m.from_ in member_set]
    suggestions = [s for status in SuggestionStatus for s in await store.suggestions(status) if {s.a, s.b} & member_set]
    lead_ids = [lead.lead_id for lead in leads]
    links = await _crm_links(store, members, lead_ids, [d.deal_id for d in deals])
    subjects = member_set | set(lead_ids) | {d.deal_id for d in deals} | {m.merge_id for m in merges}
    jobs = [
        job
        for status in CrmJobStatus
        for job in await store.crm_jobs(status, limit=ALL)
        if job.subject in subjects or job.payload.get("person_id") in member_set
    ]
    return Found(
        root=root,
        persons=tuple(persons),
        profiles=tuple(found_profiles[k] for k in keys if k in found_profiles),
        identifiers=await store.identifiers_of(keys),
        events=tuple(await _events_of(store, set(keys), {m.event_id for m in messages}, region)),
        messages=tuple(sorted(messages, key=lambda m: m.sent_at)),
        replies=tuple(sorted(await store.outbox_of(members, limit=ALL), key=lambda r: r.created_at)),
        leads=tuple(leads),
        deals=tuple(deals),
        merges=tuple(sorted(merges, key=lambda m: m.at)),
        suggestions=tuple(suggestions),
        crm_links=tuple(links),
        crm_jobs=tuple(jobs),
        audit=tuple(await store.audit_log(person_ids=members, limit=ALL)),
    )


async def _events_of(store: BaseStore, keys: set[str], message_ids: set[str], region: str) -> list[Envelope]:
    """The raw events that became the person's messages, and any other event from their accounts."""
    out: list[Envelope] = []
    async for envelope in store.iter_events():
        if envelope.id in message_ids:
            out.append(envelope)
            continue
        try:
            parsed = parse_envelope(envelope, region=region)
        except InputError:
            continue  # a payload no parser can use names no profile
        if isinstance(parsed, Message) and parsed.profile_key in keys:
            out.append(envelope)
    return sorted(out, key=lambda e: e.received_at)


async def _crm_links(
    store: BaseStore, members: Sequence[str], lead_ids: Sequence[str], deal_ids: Sequence[str]
) -> list[tuple[str, str, int]]:
    wanted = [(e, m) for m in members for e in PERSON_ENTITIES]
    wanted += [(e, lead) for lead in lead_ids for e in LEAD_ENTITIES] + [("deal", d) for d in deal_ids]
    links = []
    for entity, stitch_id in dict.fromkeys(wanted):
        remote = await store.crm_link(entity, stitch_id)
        if remote is not None:
            links.append((entity, stitch_id, remote))
    return links


def export_document(found: Found, *, asked: str, at: datetime) -> dict[str, Any]:
    """The data subject's copy: every record, texts and identifiers unmasked."""
    return {
        "person_id": found.root,
        "requested_id": asked,
        "exported_at": at.isoformat(),
        "persons": [
            {
                "person_id": p.person_id,
                "display_name": p.display_name,
                "created_at": p.created_at.isoformat(),
                "responsible": p.responsible,
                "merged_into": p.merged_into,
            }
            for p in found.persons
        ],
        "profiles": [
            {
                "profile": p.key,
                "channel": p.channel.value,
                "user_id": p.user_id,
                "account": p.account,
                "chat_id": p.chat_id,
                "name": p.name,
                "handle": p.handle,
                "first_seen": p.first_seen.isoformat(),
                "last_seen": p.last_seen.isoformat(),
            }
            for p in found.profiles
        ],
        "identifiers": [
            {"profile": key, "type": i.kind.value, "value": i.value, "provenance": i.provenance.value}
            for key, idents in found.identifiers.items()
            for i in idents
        ],
        "messages": [
            {
                "event_id": m.event_id,
                "channel": m.channel.value,
                "profile": m.profile_key,
                "lead_id": m.lead_id,
                "at": m.sent_at.isoformat(),
                "direction": m.direction.value,
                "text": m.text,
            }
            for m in found.messages
        ],
        "replies": [
            {
                "id": r.id,
                "channel": r.channel.value,
                "profile": r.profile_key,
                "text": r.text,
                "status": r.status.value,
                "created_at": r.created_at.isoformat(),
                "actor": r.actor,
            }
            for r in found.replies
        ],
        "raw_events": [
            {
                "event_id": e.id,
                "channel": e.channel.value,
                "received_at": e.received_at.isoformat(),
                "payload": e.payload,
            }
            for e in found.events
        ],
        "leads": [
            {
                "lead_id": lead.lead_id,
                "person_id": lead.person_id,
                "status": lead.status.value,
                "is_repeat": lead.is_repeat,
                "channel": lead.channel.value,
                "created_at": lead.created_at.isoformat(),
                "responsible": lead.responsible,
                "merged_into": lead.merged_into,
            }
            for lead in found.leads
        ],
        "deals": [_deal_row(d) for d in found.deals],
        "merges": [merge_row(m) for m in found.merges],
        "suggestions": [
            {
                "suggestion_id": s.suggestion_id,
                "a": s.a,
                "b": s.b,
                "score": s.score,
                "status": s.status.value,
                "evidence": [{"rule": e.rule, "detail": e.detail, "score": e.score} for e in s.evidence],
                "created_at": s.created_at.isoformat(),
            }
            for s in found.suggestions
        ],
        "crm_links": [{"entity": e, "stitch_id": s, "remote_id": r} for e, s, r in found.crm_links],
    }


def _deal_row(d: Deal) -> dict[str, Any]:
    return {
        "deal_id": d.deal_id,
        "lead_id": d.lead_id,
        "kind": d.kind.value,
        "title": d.title,
        "status": d.status.value,
        "amount": d.amount,
        "contact_name": d.contact_name,
        "contact_phone": d.contact_phone,
        "contact_email": d.contact_email,
        "company_name": d.company_name,
        "company_tax_id": d.company_tax_id,
        "created_at": d.created_at.isoformat(),
    }


async def export_person(store: BaseStore, person_id: str, *, at: datetime, region: str = "RU") -> dict[str, Any]:
    found = await gather(store, person_id, region=region)
    log.info("person exported", extra={"person_id": found.root, "messages": len(found.messages)})
    return export_document(found, asked=person_id, at=at)


async def forget(
    store: BaseStore,
    person_id: str,
    *,
    actor: str,
    at: datetime,
    region: str = "RU",
    crm: CrmEraser | None = None,
) -> ForgetSummary:
    """Erase the person; other persons stay as they were. Raises NotFound or Erased for a bad id."""
    found = await gather(store, person_id, region=region)
    members = found.member_ids
    # The CRM first: afterwards Stitch no longer knows which remote records were this person's.
    crm_removed = await crm(found) if crm is not None else 0
    async with store.atomic():
        for pid in members:
            await store.update_person(pid, display_name="")
        await store.delete_inbox_rows(members)
        for deal in found.deals:
            await store.put_deal(_blank_deal(deal))
        for entity, stitch_id, _ in found.crm_links:
            await store.drop_crm_link(entity, stitch_id)
        for job in found.crm_jobs:
            if job.status is not CrmJobStatus.DONE:
                # A push still waiting would send the person back to the CRM.
                await store.put_crm_job(replace(job, status=CrmJobStatus.FAILED, error=ERASED_JOB))
    keys = [p.key for p in found.profiles]
    await store.erase(
        Erasure(
            person_ids=tuple(members),
            profile_keys=tuple(keys),
            identifier_keys=tuple(dict.fromkeys(i.key for idents in found.identifiers.values() for i in idents)),
            event_ids=tuple(e.id for e in found.events),
            message_ids=tuple(m.event_id for m in found.messages),
            outbox_ids=tuple(r.id for r in found.replies),
            suggestion_ids=tuple(s.suggestion_id for s in found.suggestions),
            merge_ids=tuple(m.merge_id for m in found.merges),
            crm_job_ids=tuple(j.job_id for j in found.crm_jobs),
            audit_ids=tuple(a.entry_id for a in found.audit),
        )
    )
    # Written last: an erasure cut short can be run again until this entry exists.
    await store.add_audit(
        AuditEntry(
            entry_id=f"a_{secrets.token_hex(8)}",
            at=at,
            actor=actor,
            action=FORGET_ACTION,
            person_id=found.root,
            target=",".join(members),
        )
    )
    log.info(
        "person erased",
        extra={"person_id": found.root, "profiles": len(keys), "messages": len(found.messages), "actor": actor},
    )
    return ForgetSummary(
        person_id=found.root,
        profiles=len(found.profiles),
        messages=len(found.messages),
        replies=len(found.replies),
        events=len(found.events),
        merges=len(found.merges),
        crm_removed=crm_removed,
    )


def _blank_deal(deal: Deal) -> Deal:
    return replace(
        deal, title="", contact_name="", contact_phone="", contact_email="", company_name="", company_tax_id=""
    )
