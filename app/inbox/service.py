"""What the inbox can do, for the JSON API and the pages alike: every check of roles and
assignment, every audit entry, every write in one unit of work.

Results are plain JSON-ready dicts, so the API returns them as they are and the pages render them.
Identifiers leave this module masked (+7 912 ***-**-89, a***@example.com).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app import personal
from app.inbox.audit import AuditWords
from app.inbox.explain import (
    NOTABLE_BITS,
    Bands,
    End,
    Line,
    explain_link,
    likelihood,
    pick_ends,
    strongest_first,
    suggestion_probability,
)
from app.inbox.index import InboxIndex
from app.inbox.live import Broker, LiveEvent
from app.masking import ProfileRefs, mask_identifier, mask_key
from app.outbox import Outbox
from core.config import Settings
from core.erasure import FORGET_ACTION
from core.errors import Erased, FieldErrors, Forbidden, MergeRefused, NotFound
from core.inbox import AuditEntry, Deal, DealKind, DealStatus, InboxRow, Role, User
from core.phones import mask_email, mask_phone, normalize_email, normalize_phone
from core.records import (
    Direction,
    Evidence,
    Lead,
    LeadStatus,
    MergeKind,
    MergeRecord,
    OutboxItem,
    Profile,
    Suggestion,
    SuggestionStatus,
)
from core.values import Channel, Identifier, IdKind, Provenance
from crm.deals import Conversion, DealBook, deal_flags, lead_is_repeat
from resolver.merge import Merger
from resolver.service import CHANNEL_TITLES
from store.base import BaseStore

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SEARCH_LIMIT = 200  # profiles looked at per search word
TIMELINE_LIMIT = 200
STAGES = (
    LeadStatus.NEW,
    LeadStatus.IN_PROGRESS,
    LeadStatus.QUALIFIED,
    LeadStatus.PROPOSAL,
    LeadStatus.CONSENT,
)
FLAGS = ("repeat_lead", "repeat_inquiry", "repeat_deal")
SEES_ALL = frozenset({Role.SUPERVISOR, Role.ADMIN})
WORKS_PERSONS = frozenset({Role.MANAGER, Role.SUPERVISOR, Role.ADMIN})


def _now() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    rows: list[dict[str, Any]]
    page: int
    per_page: int
    has_next: bool


class InboxService:
    """The inbox's actions; each takes the acting user and checks what they may do."""

    def __init__(
        self,
        store: BaseStore,
        settings: Settings,
        merger: Merger,
        outbox: Outbox,
        index: InboxIndex,
        broker: Broker,
        *,
        clock: Any = _now,
    ) -> None:
        self.store = store
        self.settings = settings
        self.merger = merger
        self.outbox = outbox
        self.index = index
        self.broker = broker
        self.deals = DealBook(store, region=settings.default_region)
        self.refs = ProfileRefs(store)
        self.clock = clock
        self.merge_roles = frozenset(Role(r) for r in settings.inbox.merge_roles)
        self.bands = Bands.of(settings.resolver)
        self.deadline = timedelta(seconds=settings.inbox.first_response_s)
        # Called inside the unit that converts a lead (the CRM push queue commits with the deal).
        self.conversion_hooks: list[Callable[[Deal], Awaitable[None]]] = []
        # Set when the CRM push is on: an erasure removes the mirrored records too.
        self.crm_eraser: personal.CrmEraser | None = None

    # -- access --------------------------------------------------------------------------------
    def _works(self, user: User, action: str) -> None:
        if user.role not in WORKS_PERSONS:
            raise Forbidden(action, f"the {user.role} role has no access to customers")

    def _may_merge(self, user: User, action: str) -> None:
        if user.role not in self.merge_roles:
            roles = ", ".join(sorted(self.merge_roles))
            raise Forbidden(action, f"only {roles} may merge, split or mark persons as different")

    async def _visible_root(self, user: User, person_id: str, action: str) -> str:
        """The person's root, if this user may work on it: managers see their own and the unassigned."""
        self._works(user, action)
        root = await self.store.root_of(person_id)
        person = await self.store.get_person(root)
        if person is None:
            raise NotFound("person", person_id)
        if user.role not in SEES_ALL and person.responsible not in ("", user.name):
            raise Forbidden(action, "this person is assigned to another manager")
        return root

    def _visible_names(self, user: User) -> list[str] | None:
        return None if user.role in SEES_ALL else [user.name, ""]

    async def _audit(
        self, user: User | str, action: str, person_id: str = "", target: str = "", detail: str = ""
    ) -> None:
        actor = user if isinstance(user, str) else user.name
        entry = AuditEntry(
            entry_id=f"a_{secrets.token_hex(8)}",
            at=self.clock(),
            actor=actor,
            action=action,
            person_id=person_id,
            target=target,
            detail=detail,
        )
        await self.store.add_audit(entry)

    # -- the list ------------------------------------------------------------------------------
    def row_dict(self, row: InboxRow) -> dict[str, Any]:
        now = self.clock()
        due = row.awaiting_since + self.deadline if row.awaiting_since else None
        return {
            "person_id": row.person_id,
            "name": row.display_name,
            "responsible": row.responsible,
            "last_at": iso(row.last_at),
            "last_channel": row.last_channel,
            "channels": list(row.channels),
            "unread": row.unread,
            "awaiting_since": iso(row.awaiting_since),
            "response_due": iso(due),
            "overdue": due is not None and due < now,
            "lead_id": row.lead_id,
            "lead_status": row.lead_status,
            "repeat_lead": row.repeat_lead,
            "repeat_inquiry": row.repeat_inquiry,
            "repeat_deal": row.repeat_deal,
        }

    async def persons(
        self, user: User, *, q: str = "", flag: str = "", page: int = 1, per_page: int = PAGE_SIZE
    ) -> Page:
        self._works(user, "list persons")
        if flag and flag not in FLAGS:
            raise FieldErrors({"flag": f"one of {', '.join(FLAGS)}"})
        per_page = max(1, min(per_page, MAX_PAGE_SIZE))
        page = max(1, page)
        names = self._visible_names(user)
        offset = (page - 1) * per_page
        if not q.strip():
            rows = await self.store.inbox_page(responsible=names, flag=flag or None, limit=per_page + 1, offset=offset)
        else:
            roots = await self.search(q)
            found = await self.store.inbox_rows(roots)
            rows = [
                found[r]
                for r in roots
                if r in found
                and (names is None or found[r].responsible in names)
                and (not flag or getattr(found[r], flag))
            ]
            rows.sort(key=lambda r: (r.unread > 0, r.last_at), reverse=True)
            rows = rows[offset : offset + per_page + 1]
        return Page(
            rows=[self.row_dict(r) for r in rows[:per_page]],
            page=page,
            per_page=per_page,
            has_next=len(rows) > per_page,
        )

    async def search(self, q: str) -> list[str]:
        """Person roots matching a name, phone, e-mail, handle or person id; every lookup is indexed."""
        q = q.strip()
        keys: list[str] = []
        roots: list[str] = []
        if q.startswith("p_") and await self.store.get_person(q) is not None:
            roots.append(await self.store.root_of(q))
        if "@" in q.strip("@"):
            email = normalize_email(q)
            if email:
                keys.extend((await self.store.profiles_by_identifier([f"email:{email}"]))[f"email:{email}"])
        digits = sum(ch.isdigit() for ch in q)
        if digits >= 5 and digits >= len(q.replace(" ", "")) // 2:
            phone = normalize_phone(q, self.settings.default_region)
            if phone:
                keys.extend((await self.store.profiles_by_identifier([f"phone:{phone}"]))[f"phone:{phone}"])
        if q.startswith("@"):
            handle = q[1:].lower()
            ident = f"{IdKind.TELEGRAM_USERNAME}:{handle}"
            keys.extend((await self.store.profiles_by_identifier([ident]))[ident])
        if not keys and not roots and digits < 5:
            # Names (and handles): every word must match some profile of the person.
            per_word: list[set[str]] = []
            for word in q.lstrip("@").split():
                found = await self.store.find_profiles(word, limit=SEARCH_LIMIT)
                per_word.append({r for r in [await self.store.person_of_profile(k) for k in found] if r})
            if per_word:
                roots.extend(sorted(set.intersection(*per_word)))
        for key in dict.fromkeys(keys):
            root = await self.store.person_of_profile(key)
            if root:
                roots.append(root)
        return list(dict.fromkeys(roots))

    # -- one person ----------------------------------------------------------------------------
    async def person(self, user: User, person_id: str) -> dict[str, Any]:
        root = await self._visible_root(user, person_id, "open person")
        if await self.store.forgotten(root):
            raise Erased(root)
        store = self.store
        person = await store.get_person(root)
        assert person is not None
        members = await store.members_of(root)
        profiles = sorted(await store.profiles_of(root), key=lambda p: p.last_seen, reverse=True)
        idents = await store.identifiers_of([p.key for p in profiles])
        leads = await store.leads_of(members)
        deals = await store.deals_of(members)
        row = (await store.inbox_rows([root])).get(root)
        merges = [m for m in await self._merges_of(members) if m.kind is not MergeKind.SPLIT]
        suggestions = await store.suggestions_of(members)
        return {
            "person_id": root,
            "asked_as": person_id,
            "name": person.display_name,
            "responsible": person.responsible,
            "created_at": iso(person.created_at),
            "row": self.row_dict(row) if row else None,
            "profiles": [await self._profile_dict(p, idents.get(p.key, [])) for p in profiles],
            "reply_channels": self._reply_channels(profiles),
            "leads": [self._lead_dict(lead, leads, deals) for lead in leads if lead.merged_into is None],
            "deals": [self._deal_dict(d, deals, leads) for d in deals],
            "merges": [self._merge_dict(m) for m in merges],
            "suggestions": [await self._suggestion_dict(s) for s in suggestions],
            "may_merge": user.role in self.merge_roles,
            "may_erase": user.role is Role.ADMIN,
            "junk_reasons": list(self.settings.inbox.junk_reasons),
        }

    async def _profile_dict(self, p: Profile, idents: Sequence[Identifier]) -> dict[str, Any]:
        # A WhatsApp profile's key is its number: masked like the identifiers, with an opaque `ref`
        # to tell profiles apart; the unmasked key only comes with the audited reveal.
        return {
            "key": mask_key(p.key),
            "ref": await self.refs.ref(p.key),
            "channel": str(p.channel),
            "channel_title": CHANNEL_TITLES[p.channel],
            "name": p.name,
            "handle": p.handle,
            "first_seen": iso(p.first_seen),
            "last_seen": iso(p.last_seen),
            "unreachable": p.unreachable,
            "identifiers": [mask_identifier(i.key) for i in idents],
        }

    def _reply_channels(self, profiles: Sequence[Profile]) -> list[dict[str, Any]]:
        """One entry per channel the person wrote on, newest first: the first usable one is the default."""
        out: list[dict[str, Any]] = []
        seen: set[Channel] = set()
        for p in profiles:
            if p.channel in seen:
                continue
            seen.add(p.channel)
            reason = self.outbox.why_not(p)
            entry: dict[str, Any] = {
                "channel": str(p.channel),
                "title": CHANNEL_TITLES[p.channel],
                "available": reason is None,
                "reason": reason or "",
            }
            if p.channel is Channel.WHATSAPP:
                closes = p.last_seen + timedelta(hours=24)
                entry["window_closes_at"] = iso(closes)
                entry["window_open"] = closes > self.clock()
            out.append(entry)
        default = next((c["channel"] for c in out if c["available"]), "")
        for c in out:
            c["default"] = c["channel"] == default
        return out

    def _lead_dict(self, lead: Lead, leads: list[Lead], deals: list[Deal]) -> dict[str, Any]:
        return {
            "lead_id": lead.lead_id,
            "status": str(lead.status),
            "open": lead.status.is_open,
            "created_at": iso(lead.created_at),
            "last_activity": iso(lead.last_activity),
            "channel": str(lead.channel),
            "channel_title": CHANNEL_TITLES[lead.channel],
            "responsible": lead.responsible,
            "junk_reason": lead.junk_reason,
            "repeat_lead": lead_is_repeat(lead, leads),
            "deals": [d.deal_id for d in deals if d.lead_id == lead.lead_id],
        }

    def _deal_dict(self, deal: Deal, deals: list[Deal], leads: list[Lead]) -> dict[str, Any]:
        flags = deal_flags(deal, deals, leads)
        return {
            "deal_id": deal.deal_id,
            "lead_id": deal.lead_id,
            "kind": str(deal.kind),
            "title": deal.title,
            "amount": deal.amount,
            "status": str(deal.status),
            "created_at": iso(deal.created_at),
            "contact_name": deal.contact_name,
            "contact_phone": mask_phone(deal.contact_phone) if deal.contact_phone else "",
            "contact_email": mask_email(deal.contact_email) if deal.contact_email else "",
            "company_name": deal.company_name,
            "repeat_inquiry": flags.repeat_inquiry,
            "repeat_deal": flags.repeat_deal,
        }

    @staticmethod
    def _merge_dict(m: MergeRecord) -> dict[str, Any]:
        return {
            "merge_id": m.merge_id,
            "at": iso(m.at),
            "kind": str(m.kind),
            "into": m.into,
            "from": m.from_,
            "actor": m.actor,
            "why": _words(m.evidence),
            "undone_by": m.undone_by,
        }

    async def _merges_of(self, members: Sequence[str]) -> list[MergeRecord]:
        # Merge records are few per person; the audit table has no person index of its own.
        wanted = set(members)
        return [m for m in await self.store.merges() if m.into in wanted or m.from_ in wanted]

    async def _side(self, person_id: str) -> dict[str, Any]:
        root = await self.store.root_of(person_id)
        person = await self.store.get_person(root)
        profiles = await self.store.profiles_of(root)
        idents = await self.store.identifiers_of([p.key for p in profiles])
        return {
            "person_id": root,
            "name": person.display_name if person else "",
            "responsible": person.responsible if person else "",
            "profiles": [await self._profile_dict(p, idents.get(p.key, [])) for p in profiles],
        }

    async def _suggestion_dict(self, s: Suggestion) -> dict[str, Any]:
        a, b = await self._side(s.a), await self._side(s.b)
        line = await self._suggestion_line(s, a["person_id"], b["person_id"])
        chance = suggestion_probability(s.score, s.evidence)
        return {
            "suggestion_id": s.suggestion_id,
            "score": round(s.score, 4),  # as stored: a match probability (a hand-set score before the model decided)
            "probability": None if chance is None else round(chance, 4),
            "likelihood": likelihood(chance),
            "strength": line["strength"],
            "bars": line["bars"],
            "created_at": iso(s.created_at),
            "why": line["text"],
            "a": a,
            "b": b,
        }

    async def _suggestion_line(self, s: Suggestion, a: str, b: str) -> dict[str, Any]:
        ours, theirs = (
            await self._ends(await self.store.profiles_of(a)),
            await self._ends(await self.store.profiles_of(b)),
        )
        edges = await self._edges([e.key for e in ours])
        line = explain_link(s.evidence, pick_ends(s.evidence, ours, theirs, edges), self.bands)
        return line.as_dict()

    async def _ends(self, profiles: Sequence[Profile]) -> list[End]:
        ordered = sorted(profiles, key=lambda p: (p.first_seen, p.key))
        idents = await self.store.identifiers_of([p.key for p in ordered])
        return [
            End(key=p.key, channel=p.channel, held={i.key: i.provenance for i in idents.get(p.key, [])})
            for p in ordered
        ]

    async def _edges(self, keys: Sequence[str]) -> dict[frozenset[str], float]:
        return {frozenset((a, b)): score for a, b, score, _ in await self.store.edges_of(list(keys))}

    async def timeline(self, user: User, person_id: str) -> list[dict[str, Any]]:
        """Every channel's messages and the manager's replies, oldest first, with delivery states."""
        root = await self._visible_root(user, person_id, "read timeline")
        store = self.store
        members = await store.members_of(root)
        profiles = {p.key: p for p in await store.profiles_of(root)}
        messages = await store.messages_of(list(profiles), limit=TIMELINE_LIMIT)
        replies = {o.id: o for o in await store.outbox_of(members, limit=TIMELINE_LIMIT)}
        items: list[dict[str, Any]] = []
        order: list[tuple[datetime, int]] = []
        shown: set[str] = set()
        # Providers stamp some messages to the second only: within a second, arrival order decides.
        for arrival, m in enumerate(reversed(messages)):
            order.append((m.sent_at.replace(microsecond=0), arrival))
            outbox_id = m.meta.get("outbox_id", "")
            item: dict[str, Any] = {
                "id": m.event_id,
                "direction": str(m.direction),
                "channel": str(m.channel),
                "channel_title": CHANNEL_TITLES[m.channel],
                "at": iso(m.sent_at),
                "text": m.text,
                "author": profiles[m.profile_key].name
                if m.direction is Direction.IN and m.profile_key in profiles
                else "",
            }
            if outbox_id:
                shown.add(outbox_id)
                reply = replies.get(outbox_id)
                item["status"] = str(reply.status) if reply else "sent"
                item["author"] = reply.actor if reply else m.meta.get("actor", "")
                item["outbox_id"] = outbox_id
            items.append(item)
        for reply in replies.values():
            if reply.id not in shown:  # queued or failed: never reached the timeline as a message
                items.append(self._reply_dict(reply))
                order.append((reply.created_at.replace(microsecond=0), len(order) + TIMELINE_LIMIT))
        return [item for _, item in sorted(zip(order, items, strict=True), key=lambda pair: pair[0])]

    @staticmethod
    def _reply_dict(reply: OutboxItem) -> dict[str, Any]:
        return {
            "id": f"out:{reply.id}",
            "direction": "out",
            "channel": str(reply.channel),
            "channel_title": CHANNEL_TITLES[reply.channel],
            "at": iso(reply.created_at),
            "text": reply.text,
            "author": reply.actor,
            "status": str(reply.status),
            "error": reply.error,
            "outbox_id": reply.id,
        }

    async def evidence(self, user: User, person_id: str) -> list[dict[str, Any]]:
        """Why this is one person: one line per live merge, naming the channels it joined, strongest first."""
        root = await self._visible_root(user, person_id, "read evidence")
        return [line.as_dict() for line in await self._lines(root)]

    async def _lines(self, root: str) -> list[Line]:
        members = await self.store.members_of(root)
        ends = await self._ends(await self.store.profiles_of(root))
        edges = await self._edges([e.key for e in ends])
        lines = []
        for m in await self._merges_of(members):
            if m.kind is MergeKind.SPLIT or m.undone_by is not None:
                continue
            # The profiles that came with the merged-away person, and the ones it joined.
            came = set(await self.store.profile_keys_of(await self.store.members_of(m.from_)))
            joining = [e for e in ends if e.key in came]
            joined = [e for e in ends if e.key not in came]
            by = m.actor if m.kind is MergeKind.MANUAL else ""
            lines.append(
                explain_link(m.evidence, pick_ends(m.evidence, joining, joined, edges), self.bands, linked_by=by)
            )
        return strongest_first(lines)

    async def read(self, user: User, person_id: str) -> None:
        root = await self._visible_root(user, person_id, "mark read")
        async with self.store.atomic():
            await self.index.read(root)

    # -- replies -------------------------------------------------------------------------------
    async def reply(self, user: User, person_id: str, text: str, channel: str = "") -> dict[str, Any]:
        root = await self._visible_root(user, person_id, "reply")
        try:
            chosen = Channel(channel) if channel else None
        except ValueError as e:
            raise FieldErrors({"channel": f"unknown channel {channel!r}"}) from e
        item = await self.outbox.send(root, text, chosen, actor=user.name)
        async with self.store.atomic():
            await self._audit(user, "reply", root, item.id, f"on {item.channel}: {item.status}")
        self.broker.publish(LiveEvent(kind="outbox", person_id=root, detail=item.id))
        return self._reply_dict(item)

    # -- identity work -------------------------------------------------------------------------
    async def review(self, user: User) -> list[dict[str, Any]]:
        self._works(user, "review queue")
        return [await self._suggestion_dict(s) for s in await self.store.suggestions()]

    async def accept(self, user: User, suggestion_id: str, primary: str) -> dict[str, Any]:
        self._may_merge(user, "accept suggestion")
        suggestion = await self._pending(suggestion_id)
        roots = {await self.store.root_of(suggestion.a), await self.store.root_of(suggestion.b)}
        into = await self.store.root_of(primary) if primary else ""
        if into not in roots:
            raise FieldErrors({"primary": "pick one of the two persons as the primary"})
        (other,) = roots - {into} or {into}
        record = await self._merge(user, into, other, suggestion.evidence, "accept", suggestion_id)
        return self._merge_dict(record)

    async def reject(self, user: User, suggestion_id: str) -> None:
        self._may_merge(user, "reject suggestion")
        suggestion = await self._pending(suggestion_id)
        async with self.store.atomic():
            await self.merger.not_same(suggestion.a, suggestion.b, actor=user.name, at=self.clock())
            await self.store.set_suggestion_status(suggestion_id, SuggestionStatus.REJECTED)
            await self._audit(user, "not_same", suggestion.a, suggestion_id, f"{suggestion.a} ≠ {suggestion.b}")

    async def _pending(self, suggestion_id: str) -> Suggestion:
        suggestion = await self.store.get_suggestion(suggestion_id)
        if suggestion is None:
            raise NotFound("suggestion", suggestion_id)
        if suggestion.status is not SuggestionStatus.PENDING:
            raise MergeRefused(f"the suggestion was already {suggestion.status}")
        return suggestion

    async def link(self, user: User, person_id: str, existing: str) -> dict[str, Any]:
        """Merge this person into an existing one (the existing person stays the primary)."""
        self._may_merge(user, "link persons")
        if await self.store.get_person(existing) is None:
            raise NotFound("person", existing)
        root = await self._visible_root(user, person_id, "link persons")
        evidence = (Evidence(rule="manual", detail=f"linked by {user.name}"),)
        record = await self._merge(user, await self.store.root_of(existing), root, evidence, "link", existing)
        return self._merge_dict(record)

    async def _merge(
        self, user: User, into: str, from_: str, evidence: Sequence[Evidence], action: str, target: str
    ) -> MergeRecord:
        if into == from_:
            raise MergeRefused(f"{into} and {from_} are already one person")
        async with self.store.atomic():
            record = await self.merger.perform(
                into, from_, kind=MergeKind.MANUAL, evidence=evidence, actor=user.name, at=self.clock()
            )
            await self.index.merged(record)
            await self._audit(user, action, record.into, record.merge_id, f"{record.from_} merged into {record.into}")
        self.broker.publish(LiveEvent(kind="identity", person_id=record.into, detail=record.merge_id))
        return record

    async def not_same(self, user: User, person_id: str, other: str) -> None:
        self._may_merge(user, "mark not the same person")
        async with self.store.atomic():
            await self.merger.not_same(person_id, other, actor=user.name, at=self.clock())
            await self._audit(user, "not_same", person_id, other, f"{person_id} ≠ {other}")

    async def split(self, user: User, merge_id: str) -> dict[str, Any]:
        self._may_merge(user, "split merge")
        async with self.store.atomic():
            record = await self.merger.split(merge_id, actor=user.name, at=self.clock())
            await self.index.split(record)
            await self._audit(user, "split", record.into, merge_id, f"{record.from_} separated from {record.into}")
        for pid in (record.into, record.from_):
            self.broker.publish(LiveEvent(kind="identity", person_id=pid, detail=record.merge_id))
        return self._merge_dict(record)

    async def add_identifier(self, user: User, person_id: str, kind: str, value: str) -> dict[str, Any]:
        """A phone or e-mail typed by a manager: it links the person's future messages like a typed one."""
        root = await self._visible_root(user, person_id, "add identifier")
        if kind == "phone":
            normalized = normalize_phone(value, self.settings.default_region)
            ident_kind = IdKind.PHONE
        elif kind == "email":
            normalized = normalize_email(value)
            ident_kind = IdKind.EMAIL
        else:
            raise FieldErrors({"kind": "phone or email"})
        if not normalized:
            raise FieldErrors({"value": f"not a valid {'phone number' if kind == 'phone' else 'e-mail address'}"})
        ident = Identifier(kind=ident_kind, value=normalized, provenance=Provenance.TYPED)
        profiles = sorted(await self.store.profiles_of(root), key=lambda p: p.first_seen)
        if not profiles:
            raise FieldErrors({"person": "the person has no channel profile to attach it to"})
        holders = (await self.store.profiles_by_identifier([ident.key]))[ident.key]
        others = sorted({r for r in [await self.store.person_of_profile(k) for k in holders] if r and r != root})
        async with self.store.atomic():
            # The oldest profile is the person's home: a split keeps the identifier with it.
            await self.store.link_identifier(profiles[0].key, ident)
            await self._audit(user, "identifier.add", root, profiles[0].key, mask_identifier(ident.key))
        return {"identifier": mask_identifier(ident.key), "also_on": others}

    # -- leads and deals -----------------------------------------------------------------------
    async def _lead(self, user: User, lead_id: str, action: str) -> tuple[Lead, str]:
        lead = await self.store.get_lead(await self.store.lead_root(lead_id))
        if lead is None:
            raise NotFound("lead", lead_id)
        root = await self._visible_root(user, lead.person_id, action)
        return lead, root

    async def lead_stage(self, user: User, lead_id: str, status: str, junk_reason: str = "") -> dict[str, Any]:
        lead, root = await self._lead(user, lead_id, "change lead stage")
        try:
            new = LeadStatus(status)
        except ValueError as e:
            raise FieldErrors({"status": f"one of {', '.join(s.value for s in LeadStatus)}"}) from e
        if new is LeadStatus.CONVERTED:
            raise FieldErrors({"status": "convert the lead to a deal instead"})
        if not lead.status.is_open:
            raise FieldErrors({"status": f"the lead is already {lead.status.value.replace('_', ' ')}"})
        if new is lead.status:
            # "Set stage" pressed without choosing another: nothing changes, so nothing is audited.
            return {"lead_id": lead.lead_id, "status": str(new), "junk_reason": lead.junk_reason}
        reason = ""
        if new is LeadStatus.JUNK:
            reason = junk_reason.strip()
            if reason not in self.settings.inbox.junk_reasons:
                raise FieldErrors({"junk_reason": "pick one of: " + "; ".join(self.settings.inbox.junk_reasons)})
        updated = replace(lead, status=new, junk_reason=reason, last_activity=max(lead.last_activity, self.clock()))
        async with self.store.atomic():
            await self.store.put_lead(updated)
            await self.index.refresh(root)
            await self._audit(
                user, "lead.stage", root, lead.lead_id, f"{lead.status} → {new}{': ' + reason if reason else ''}"
            )
        self.broker.publish(LiveEvent(kind="lead", person_id=root, detail=lead.lead_id))
        return {"lead_id": lead.lead_id, "status": str(new), "junk_reason": reason}

    async def convert(self, user: User, lead_id: str, body: dict[str, Any]) -> dict[str, Any]:
        lead, root = await self._lead(user, lead_id, "convert lead")
        try:
            kind = DealKind(str(body.get("kind", "")))
        except ValueError as e:
            raise FieldErrors({"kind": "contact, contact_company or deal_only"}) from e
        try:
            amount = float(body.get("amount") or 0)
        except (TypeError, ValueError) as e:
            raise FieldErrors({"amount": "a number"}) from e
        conversion = Conversion(
            kind=kind,
            title=str(body.get("title", "")),
            amount=amount,
            contact_name=str(body.get("contact_name", "")),
            contact_phone=str(body.get("contact_phone", "")),
            contact_email=str(body.get("contact_email", "")),
            company_name=str(body.get("company_name", "")),
            company_tax_id=str(body.get("company_tax_id", "")),
        )
        async with self.store.atomic():
            deal = await self.deals.convert(lead.lead_id, conversion, actor=user.name, at=self.clock())
            for hook in self.conversion_hooks:
                await hook(deal)
            await self.index.refresh(root)
            await self._audit(user, "lead.convert", root, deal.deal_id, f"{lead.lead_id} → {deal.kind} deal")
        members = await self.store.members_of(root)
        deals = await self.store.deals_of(members)
        leads = await self.store.leads_of(members)
        self.broker.publish(LiveEvent(kind="lead", person_id=root, detail=deal.deal_id))
        return self._deal_dict(deal, deals, leads)

    async def close_deal(self, user: User, deal_id: str, status: str) -> dict[str, Any]:
        deal = await self.store.get_deal(deal_id)
        if deal is None:
            raise NotFound("deal", deal_id)
        root = await self._visible_root(user, deal.person_id, "close deal")
        try:
            new = DealStatus(status)
        except ValueError as e:
            raise FieldErrors({"status": "won or lost"}) from e
        async with self.store.atomic():
            closed = await self.deals.close(deal_id, new, at=self.clock())
            await self.index.refresh(root)
            await self._audit(user, "deal.close", root, deal_id, str(new))
        members = await self.store.members_of(root)
        return self._deal_dict(closed, await self.store.deals_of(members), await self.store.leads_of(members))

    # -- contact details: masked on screen, revealed on request and audited -----------------------
    async def reveal(self, user: User, person_id: str) -> list[dict[str, str]]:
        """The person's identifiers unmasked: for the manager they are assigned to, supervisors and admins."""
        root = await self._visible_root(user, person_id, "show contact details")
        person = await self.store.get_person(root)
        assert person is not None
        if user.role not in SEES_ALL and person.responsible != user.name:
            raise Forbidden("show contact details", "managers see the contact details of their own persons")
        profiles = await self.store.profiles_of(root)
        idents = await self.store.identifiers_of([p.key for p in profiles])
        refs = await self.refs.refs(idents)
        shown = [
            {"profile": key, "ref": refs[key], "type": i.kind.value, "value": i.value}
            for key, found in idents.items()
            for i in found
        ]
        await self._audit(user, "contact.reveal", root, detail=f"{len(shown)} identifiers shown")
        return shown

    # -- one person's data (GDPR, 152-FZ): admins only -----------------------------------------
    def _admin(self, user: User, action: str) -> None:
        if user.role is not Role.ADMIN:
            raise Forbidden(action, "only admins export or erase a person's data")

    async def export_person(self, user: User, person_id: str) -> dict[str, Any]:
        """Everything held about the person, unmasked: the data subject's copy (app/personal.py)."""
        self._admin(user, "export person")
        doc = await personal.export_person(self.store, person_id, at=self.clock(), region=self.settings.default_region)
        await self._audit(user, "person.export", doc["person_id"])
        return doc

    async def forget_person(self, user: User, person_id: str, confirm: str) -> dict[str, Any]:
        """Erase the person; `confirm` must repeat their id (the confirmation step)."""
        self._admin(user, "erase person")
        if not person_id or await self.store.get_person(person_id) is None:
            raise NotFound("person", person_id)
        root = await self.store.root_of(person_id)
        if confirm not in (person_id, root):
            raise FieldErrors({"confirm": "repeat the person's id to confirm the erasure"})
        summary = await personal.forget(
            self.store,
            person_id,
            actor=user.name,
            at=self.clock(),
            region=self.settings.default_region,
            crm=self.crm_eraser,
        )
        self.broker.publish(LiveEvent(kind="identity", person_id=summary.person_id, detail="erased"))
        return {"person_id": summary.person_id, "summary": summary.render()}

    async def erased(self, user: User, person_id: str) -> dict[str, Any]:
        """What the pages show of an erased person: when, by whom, and merges that can no longer be split."""
        self._works(user, "open person")
        root = await self.store.root_of(person_id)
        members = await self.store.members_of(root)
        entry = next(a for a in await self.store.audit_log(person_ids=[root]) if a.action == FORGET_ACTION)
        return {
            "person_id": root,
            "erased_at": iso(entry.at),
            "erased_by": entry.actor,
            "merges": [self._merge_dict(m) for m in await self._merges_of(members) if m.kind is not MergeKind.SPLIT],
        }

    # -- audit ---------------------------------------------------------------------------------
    async def audit(self, user: User, person_id: str = "", limit: int = 100) -> list[dict[str, Any]]:
        if person_id:
            root = await self._visible_root(user, person_id, "read audit log")
            entries = await self.store.audit_log(person_ids=await self.store.members_of(root), limit=limit)
        else:
            if user.role not in SEES_ALL:
                raise Forbidden("read audit log", "supervisors and admins read the whole log")
            entries = await self.store.audit_log(limit=limit)
        return await AuditWords(self.store).describe(entries)


def _words(evidence: Sequence[Evidence]) -> str:
    # "different channels" weighs next to nothing on every cross-channel link: the merge history
    # leaves it out, as "Why is this one person?" does.
    said = (e.detail for e in evidence if e.detail and not (e.rule == "channel" and abs(e.score) < NOTABLE_BITS))
    return "; ".join(dict.fromkeys(said))
