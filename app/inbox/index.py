"""The inbox list, kept up to date: one row per person, routing of new leads, read and answered marks.

The row holds what the list sorts and filters by (unread count, first unanswered message, repeat
flags), so a page of the list is one indexed query however many persons there are. Rows are
derived from the store (profiles, leads, deals) whenever something about the person changes;
only `unread` and `awaiting_since` are the row's own state.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from app.inbox.live import Broker, LiveEvent
from app.ingest import IngestResult, Outcome
from core.inbox import InboxRow, Role
from core.records import Lead, MergeRecord, OutboxItem, OutboxStatus
from crm.deals import deal_flags, lead_is_repeat
from store.base import BaseStore

log = logging.getLogger("stitch.inbox")

ROUND_ROBIN = "inbox.round_robin"
_KEEP = object()


class InboxIndex:
    """Maintains InboxRows and routes new leads to managers; a Pipeline observer."""

    def __init__(self, store: BaseStore, broker: Broker) -> None:
        self.store = store
        self.broker = broker

    # -- events --------------------------------------------------------------------------------
    async def observe(self, result: IngestResult) -> None:
        if result.outcome is not Outcome.INGESTED or result.message is None:
            return
        message = result.message
        async with self.store.atomic():
            root = await self.store.root_of(result.person_id)
            absorbed = sorted({m.from_ for m in result.merges} - {root})
            old = await self.store.inbox_rows([root, *absorbed])
            unread = sum(r.unread for r in old.values()) + 1
            waiting = [r.awaiting_since for r in old.values() if r.awaiting_since is not None]
            awaiting = min([*waiting, message.received_at])
            await self.route(root, result.lead_id)
            await self.store.delete_inbox_rows(absorbed)
            await self.refresh(root, unread=unread, awaiting=awaiting)
        self.broker.publish(LiveEvent(kind="message", person_id=root, detail=result.event_id))
        for gone in absorbed:
            self.broker.publish(LiveEvent(kind="identity", person_id=root, detail=gone))

    async def on_outbox(self, item: OutboxItem) -> None:
        """An outbox listener: a reply's state changed; a reply that went out answers the customer."""
        root = await self.store.root_of(item.person_id)
        if item.status is OutboxStatus.SENT:
            async with self.store.atomic():
                await self.answered(root)
        self.broker.publish(LiveEvent(kind="outbox", person_id=root, detail=item.id))

    async def merged(self, record: MergeRecord) -> None:
        """After a manual merge (the caller holds the unit): the survivor takes the absorbed row's state."""
        rows = await self.store.inbox_rows([record.into, record.from_])
        unread = sum(r.unread for r in rows.values())
        waiting = [r.awaiting_since for r in rows.values() if r.awaiting_since is not None]
        await self.store.delete_inbox_rows([record.from_])
        await self.refresh(record.into, unread=unread, awaiting=min(waiting) if waiting else None)

    async def split(self, record: MergeRecord) -> None:
        """After a split (the caller holds the unit): both sides get their own rows and flags again."""
        await self.refresh(await self.store.root_of(record.into))
        await self.refresh(await self.store.root_of(record.from_), unread=0, awaiting=None)

    async def read(self, root: str) -> None:
        row = (await self.store.inbox_rows([root])).get(root)
        if row is not None and row.unread:
            await self.store.put_inbox_row(replace(row, unread=0))

    async def answered(self, root: str) -> None:
        row = (await self.store.inbox_rows([root])).get(root)
        if row is not None:
            await self.store.put_inbox_row(replace(row, unread=0, awaiting_since=None))

    # -- routing -------------------------------------------------------------------------------
    async def route(self, root: str, lead_id: str) -> None:
        """A known person's lead goes to their responsible manager; others round-robin among managers."""
        person = await self.store.get_person(root)
        if person is None:
            return
        responsible = person.responsible
        if not responsible:
            managers = [u.name for u in await self.store.users() if u.role is Role.MANAGER and not u.disabled]
            if not managers:
                return  # nobody to route to: the person waits in the unassigned queue
            turn = await self.store.next_counter(ROUND_ROBIN)
            responsible = managers[(turn - 1) % len(managers)]
            await self.store.update_person(root, responsible=responsible)
            log.info("person routed", extra={"person_id": root, "responsible": responsible})
        lead = await self.store.get_lead(lead_id) if lead_id else None
        if lead is not None and not lead.responsible:
            await self.store.put_lead(replace(lead, responsible=responsible))

    # -- rows ----------------------------------------------------------------------------------
    async def refresh(self, root: str, *, unread: int | None = None, awaiting: object = _KEEP) -> InboxRow | None:
        """Rebuild a person's row from the store; keeps unread/awaiting unless given."""
        store = self.store
        person = await store.get_person(root)
        if person is None or person.merged_into is not None:
            await store.delete_inbox_rows([root])
            return None
        members = await store.members_of(root)
        profiles = await store.profiles_of(root)
        leads = await store.leads_of(members)
        deals = await store.deals_of(members)
        old = (await store.inbox_rows([root])).get(root)
        latest = max(profiles, key=lambda p: p.last_seen) if profiles else None
        lead = _current_lead(leads)
        flags = [deal_flags(d, deals, leads) for d in deals]
        row = InboxRow(
            person_id=root,
            display_name=person.display_name,
            responsible=person.responsible,
            last_at=latest.last_seen if latest else person.created_at,
            last_channel=str(latest.channel) if latest else "",
            channels=tuple(sorted({str(p.channel) for p in profiles})),
            unread=unread if unread is not None else (old.unread if old else 0),
            awaiting_since=(old.awaiting_since if old else None) if awaiting is _KEEP else awaiting,  # type: ignore[arg-type]
            lead_id=lead.lead_id if lead else "",
            lead_status=str(lead.status) if lead else "",
            repeat_lead=lead is not None and lead_is_repeat(lead, leads),
            repeat_inquiry=any(f.repeat_inquiry for f in flags),
            repeat_deal=any(f.repeat_deal for f in flags),
        )
        await store.put_inbox_row(row)
        return row

    async def rebuild_if_empty(self) -> int:
        """Rows for persons stored before the inbox existed (first start on an old store)."""
        if await self.store.inbox_row_count() or not (await self.store.counts())["persons"]:
            return 0
        roots = [p.person_id async for p in self.store.iter_persons() if p.merged_into is None]
        for start in range(0, len(roots), 500):
            async with self.store.atomic():
                for root in roots[start : start + 500]:
                    await self.refresh(root, unread=0, awaiting=None)
        log.info("inbox rows rebuilt", extra={"persons": len(roots)})
        return len(roots)


def _current_lead(leads: list[Lead]) -> Lead | None:
    own = [lead for lead in leads if lead.merged_into is None]
    open_leads = [lead for lead in own if lead.status.is_open]
    pool = open_leads or own
    return max(pool, key=lambda lead: lead.created_at) if pool else None


def now() -> datetime:
    return datetime.now(UTC)
