"""Leads as CRMs practise them.

- A new inquiry from a person with no open lead opens a lead; if the person was already known,
  the lead is a *repeat* lead.
- Messages from any of the person's channels join the open lead.
- A lead silent for longer than LEAD_IDLE (a returning customer weeks later) no longer takes new
  inquiries: the next message opens a new, repeat, lead.
- A merge folds the absorbed person's open lead into the survivor's; a split unfolds it and gives
  the absorbed side its messages back.
- Legacy mode (STITCH_LEGACY_LEADS): instead of a repeat lead, a new inquiry joins the person's
  latest lead when it was closed: a converted lead keeps it (the message lands with the contact),
  a junk lead is reopened.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from core.records import Lead, LeadStatus, MergeRecord
from core.values import Message
from resolver.merge import new_id
from resolver.service import Resolution
from store.base import BaseStore

LEAD_IDLE = timedelta(days=30)


class LeadBook:
    """Opens, joins, folds and unfolds leads; a MergeListener of the resolver's merger."""

    def __init__(self, store: BaseStore, *, idle: timedelta = LEAD_IDLE, legacy: bool = False) -> None:
        self.store = store
        self.idle = idle
        self.legacy = legacy

    async def on_message(self, resolution: Resolution, message: Message) -> Lead:
        at = message.received_at
        # One read of the person's leads serves both questions: is one open, and was there any.
        earlier = await self.store.leads_of(await self.store.members_of(resolution.person_id))
        lead = self._open_lead(earlier, at)
        if lead is not None:
            lead = replace(lead, last_activity=max(lead.last_activity, at))
            await self.store.put_lead(lead)
            return lead
        if self.legacy and (closed := self._latest_closed(earlier)) is not None:
            return await self._append_legacy(closed, at)
        person = await self.store.get_person(resolution.person_id)
        lead = Lead(
            lead_id=new_id("l"),
            person_id=resolution.person_id,
            status=LeadStatus.NEW,
            is_repeat=resolution.known_before or bool(earlier),
            created_at=at,
            last_activity=at,
            channel=message.channel,
            responsible=person.responsible if person else "",
        )
        await self.store.add_lead(lead)
        return lead

    @staticmethod
    def _latest_closed(leads: list[Lead]) -> Lead | None:
        own = [lead for lead in leads if lead.merged_into is None]
        latest = max(own, key=lambda lead: lead.created_at) if own else None
        return latest if latest is not None and not latest.status.is_open else None

    async def _append_legacy(self, lead: Lead, at: datetime) -> Lead:
        if lead.status is LeadStatus.JUNK:
            lead = replace(lead, status=LeadStatus.NEW, junk_reason="")
        lead = replace(lead, last_activity=max(lead.last_activity, at))
        await self.store.put_lead(lead)
        return lead

    def _open_lead(self, leads: list[Lead], at: datetime) -> Lead | None:
        """The newest open lead not folded into another, unless it has been silent too long."""
        open_leads = [lead for lead in leads if lead.status.is_open and lead.merged_into is None]
        lead = max(open_leads, key=lambda lead: lead.created_at) if open_leads else None
        if lead is None or at - lead.last_activity > self.idle:
            return None
        return lead

    async def merged(self, record: MergeRecord) -> None:
        into = await self._open_lead_of_side(record.into, record.from_)
        absorbed = await self._open_lead_of_side(record.from_, None)
        if into is None or absorbed is None:
            return
        # The older lead survives: it is the inquiry the customer started with.
        keep, fold = (into, absorbed) if into.created_at <= absorbed.created_at else (absorbed, into)
        await self.store.put_lead(replace(fold, merged_into=keep.lead_id, merged_by=record.merge_id))
        await self.store.put_lead(replace(keep, last_activity=max(keep.last_activity, fold.last_activity)))

    async def split(self, record: MergeRecord, undone: MergeRecord) -> None:
        absorbed_keys = await self.store.profile_keys_of(await self.store.members_of(undone.from_))
        for lead in await self.store.leads_merged_by(undone.merge_id):
            folded_into = lead.merged_into
            await self.store.put_lead(replace(lead, merged_into=None, merged_by=None))
            if folded_into is None:
                continue
            absorbed_side = lead.person_id in await self.store.members_of(undone.from_)
            if absorbed_side:
                # Messages the absorbed side sent while merged went to the survivor's lead: give them back.
                await self.store.relead_messages(absorbed_keys, folded_into, lead.lead_id)
            else:
                into_keys = await self.store.profile_keys_of(await self.store.members_of(undone.into))
                await self.store.relead_messages(into_keys, folded_into, lead.lead_id)

    async def _open_lead_of_side(self, root: str, exclude: str | None) -> Lead | None:
        """The open lead among a side's own members (before the alias made them one person)."""
        members = await self.store.members_of(root)
        if exclude is not None:
            excluded = set(await self.store.members_of(exclude))
            members = [m for m in members if m not in excluded]
        leads = [
            lead for lead in await self.store.leads_of(members) if lead.status.is_open and lead.merged_into is None
        ]
        return max(leads, key=lambda lead: lead.created_at) if leads else None
