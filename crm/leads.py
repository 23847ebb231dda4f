"""Leads as CRMs practise them.

- A new inquiry from a person with no open lead opens a lead; if the person was already known,
  the lead is a *repeat* lead.
- Messages from any of the person's channels join the open lead.
- A lead silent for longer than LEAD_IDLE (a returning customer weeks later) no longer takes new
  inquiries: the next message opens a new, repeat, lead.
- A merge folds the absorbed person's open lead into the survivor's. A split unfolds it and gives
  each side its messages back: a lead one side opened while merged goes to that side with its
  deals; a side's messages in the other side's lead move to the side's unfolded lead, or to a new
  lead of its own (the split-off person's inquiry). Stored repeat marks are recomputed on both sides.
- Legacy mode (STITCH_LEGACY_LEADS): instead of a repeat lead, a new inquiry joins the person's
  latest lead when it was closed: a converted lead keeps it (the message lands with the contact),
  a junk lead is reopened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.records import Direction, Lead, LeadStatus, MergeRecord, StoredMessage
from core.values import Message
from crm.deals import lead_is_repeat
from resolver.merge import ids_from, new_id
from resolver.service import Resolution
from store.base import BaseStore

LEAD_IDLE = timedelta(days=30)
# Messages of one side a split reads (all of them: a person has hundreds, this bounds a corrupt store).
SPLIT_MESSAGES = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class _Side:
    """One side of a split: its persons, the home person of each of its profiles, their messages."""

    root: str
    members: frozenset[str]
    homes: Mapping[str, str]
    messages: Sequence[StoredMessage]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Returned:
    """A side's lead the split unfolded, and the leads its messages may have gone to instead."""

    lead: Lead
    folded_into: frozenset[str]


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
        """Give each side its leads and its messages' leads back, then recompute repeat marks."""
        # The split's own id seeds the ids of leads it creates: the same split gives the same leads.
        with ids_from(record.merge_id):
            into = await self._side(await self.store.root_of(undone.into))
            from_ = await self._side(undone.from_)
            returned = await self._unfold(undone.merge_id, into, from_)
            for side, other in ((into, from_), (from_, into)):
                await self._take_back(side, other, returned.get(side.root))
            for side in (into, from_):
                await self._recompute_repeats(side)

    async def _side(self, root: str) -> _Side:
        members = await self.store.members_of(root)
        profiles = await self.store.get_profiles(await self.store.profile_keys_of(members))
        homes = {key: p.person_id for key, p in profiles.items()}
        messages = await self.store.messages_of(sorted(homes), limit=SPLIT_MESSAGES)
        return _Side(root=root, members=frozenset(members), homes=homes, messages=messages)

    async def _unfold(self, merge_id: str, into: _Side, from_: _Side) -> dict[str, _Returned]:
        """Unfold the leads the merge folded; returns each side's unfolded lead (the newest) by root."""
        returned: dict[str, _Returned] = {}
        for lead in await self.store.leads_merged_by(merge_id):
            folded_into = lead.merged_into
            lead = replace(lead, merged_into=None, merged_by=None)
            await self.store.put_lead(lead)
            root = from_.root if lead.person_id in from_.members else into.root
            if folded_into is None or (root in returned and returned[root].lead.created_at >= lead.created_at):
                continue
            # The side's messages went to the lead it was folded into, or where a later merge folded that.
            chain = [folded_into]
            while (parent := await self.store.get_lead(chain[-1])) is not None and parent.merged_into is not None:
                chain.append(parent.merged_into)
            returned[root] = _Returned(lead=lead, folded_into=frozenset(chain))
        return returned

    async def _take_back(self, side: _Side, other: _Side, returned: _Returned | None) -> None:
        """Move this side's messages out of the other side's leads, where the merge put them."""
        groups: dict[str, list[StoredMessage]] = {}
        for message in side.messages:
            if message.lead_id:
                groups.setdefault(message.lead_id, []).append(message)
        found = [await self.store.get_lead(lead_id) for lead_id in groups]
        foreign = sorted(
            (lead for lead in found if lead is not None and lead.person_id in other.members),
            key=lambda lead: lead.created_at,
        )
        if not foreign:
            return
        others_write_in = {m.lead_id for m in other.messages}
        folded_targets = {lead.merged_into for lead in await self.store.leads_of(sorted(other.members))}
        keys = sorted(side.homes)
        replies_only: list[Lead] = []
        target = returned.lead if returned is not None else None
        for lead in foreign:
            mine = groups[lead.lead_id]
            inbound = [m for m in mine if m.direction is Direction.IN]
            if not inbound:
                replies_only.append(lead)  # a reply is no inquiry of its own: it follows the side's lead
                continue
            first = min(inbound, key=lambda m: m.sent_at)
            latest = max(m.sent_at for m in mine)
            home = side.homes[first.profile_key]
            if returned is not None and lead.lead_id in returned.folded_into:
                # What the side wrote while its own lead was folded belongs to that lead.
                target = replace(returned.lead, last_activity=max(returned.lead.last_activity, latest))
                returned = _Returned(lead=target, folded_into=returned.folded_into)
                await self.store.put_lead(target)
            elif (
                lead.lead_id not in others_write_in and lead.merged_into is None and lead.lead_id not in folded_targets
            ):
                # This side opened the lead while merged and nobody else wrote in it: it is this side's.
                await self._hand_over(lead, home, other)
                continue
            else:
                # A shared inquiry: the side gets a lead of its own for its part of it.
                target = await self._new_lead(side, home, first, latest)
            await self.store.relead_messages(keys, lead.lead_id, target.lead_id)
        if target is not None:
            for lead in replies_only:
                await self.store.relead_messages(keys, lead.lead_id, target.lead_id)

    async def _hand_over(self, lead: Lead, home: str, other: _Side) -> None:
        await self.store.put_lead(replace(lead, person_id=home))
        for deal in await self.store.deals_of(sorted(other.members)):
            if deal.lead_id == lead.lead_id:
                await self.store.put_deal(replace(deal, person_id=home))

    async def _new_lead(self, side: _Side, home: str, first: StoredMessage, latest: datetime) -> Lead:
        """The side's own lead for the inquiry it made while merged (repeat marks come after)."""
        person = await self.store.get_person(side.root)
        lead = Lead(
            lead_id=new_id("l"),
            person_id=home,
            status=LeadStatus.NEW,
            is_repeat=False,
            created_at=first.sent_at,
            last_activity=latest,
            channel=first.channel,
            responsible=person.responsible if person else "",
        )
        await self.store.add_lead(lead)
        return lead

    async def _recompute_repeats(self, side: _Side) -> None:
        leads = await self.store.leads_of(sorted(side.members))
        for lead in leads:
            repeat = lead_is_repeat(lead, leads)
            if lead.merged_into is None and lead.is_repeat != repeat:
                await self.store.put_lead(replace(lead, is_repeat=repeat))

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
