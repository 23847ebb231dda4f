"""The store seams: everything Stitch keeps, one small ABC per area (events, graph, merges, leads,
outbox, CRM, inbox, ops, personal data), joined in `BaseStore` with an embedded and a Redis backend.
Every area of a backend shares one connection, so one unit of work (`atomic`) spans them all.

The identity graph lives here, not in a process: profiles, identifiers, evidence edges and the
person alias forest (a merge sets `merged_into`; a split clears it). Workers may cache, but every
decision reads what the store holds.

Convenience methods built from the primitives are written once, here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from core.erasure import FORGET_ACTION, Erasure
from core.errors import StoreError
from core.inbox import AuditEntry, Deal, InboxRow, Session, User
from core.records import (
    CrmJob,
    CrmJobStatus,
    EventStatus,
    Evidence,
    Lead,
    MergeRecord,
    OutboxItem,
    ParkedEvent,
    Person,
    Profile,
    RecentHit,
    StoredMessage,
    Suggestion,
    SuggestionStatus,
)
from core.values import Envelope, Identifier

# A merge chain longer than this means a corrupt alias forest, not a busy customer.
MAX_ALIAS_DEPTH = 64
# The lock key a change of the identity graph made outside its writer takes (Merger): the writer
# holds it for each batch it resolves, so a manual merge or split never interleaves with one.
GRAPH_LOCK = "graph"


class Lifecycle(ABC):
    """Opening, closing, the unit of work and the resolution locks."""

    url: str
    # Errors that say the store failed, not the event: an event that meets one stays pending and is
    # tried again later instead of counting an attempt towards being parked.
    outages: tuple[type[Exception], ...] = (StoreError, OSError)

    @abstractmethod
    async def open(self) -> None:
        """Connect and create what is missing; raise StoreUnavailable with a reason."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool:
        """True when the store answers (readiness)."""

    @abstractmethod
    def atomic(self) -> AbstractAsyncContextManager[None]:
        """A unit of work: everything inside commits together or not at all. Nests."""

    @abstractmethod
    def lock(self, keys: Iterable[str]) -> AbstractAsyncContextManager[None]:
        """Exclusive access to the named resolution keys (identifiers, blocks) across workers.

        GRAPH_LOCK among the keys: a change of the identity graph made outside its writer (a manual
        merge, split or "not the same"), kept apart from the writer's batches.
        """


class EventStore(ABC):
    """Intake: raw events (the durable inbox) and the messages resolved from them."""

    # raw events (the durable inbox)
    @abstractmethod
    async def add_event(self, envelope: Envelope) -> bool:
        """Store a raw event as pending; False if its id is already stored."""

    @abstractmethod
    async def get_event(self, event_id: str) -> Envelope | None: ...

    @abstractmethod
    async def event_status(self, event_id: str) -> EventStatus | None: ...

    @abstractmethod
    async def finish_event(self, event_id: str, status: EventStatus, reason: str = "") -> None: ...

    @abstractmethod
    async def pending_events(self, limit: int) -> list[Envelope]:
        """Events stored but not yet resolved, oldest first (processed at start-up)."""

    @abstractmethod
    async def event_counts(self) -> dict[str, int]:
        """Events by status."""

    @abstractmethod
    async def count_events(self, status: EventStatus) -> int:
        """Events in one status, from an index (readiness asks for pending and failed on every probe)."""

    @abstractmethod
    async def park_event(self, event_id: str, reason: str, attempts: int) -> bool:
        """Set a pending event aside as failed with why, adding `attempts` to its count; False if it
        is not pending (resolved meanwhile, or unknown)."""

    @abstractmethod
    async def unpark_event(self, event_id: str) -> bool:
        """Make a parked (failed) event pending again, its attempts kept; False if it is not parked."""

    @abstractmethod
    async def parked_events(self, limit: int) -> list[ParkedEvent]:
        """Parked events, the earliest received first."""

    # messages
    @abstractmethod
    async def message_seen(self, channel: str, provider_message_id: str) -> bool: ...

    @abstractmethod
    async def add_message(self, message: StoredMessage) -> None: ...

    @abstractmethod
    async def messages_of(
        self, profile_keys: Sequence[str], *, limit: int = 200, before: datetime | None = None
    ) -> list[StoredMessage]:
        """Messages of these profiles, newest first."""

    @abstractmethod
    async def relead_messages(self, profile_keys: Sequence[str], from_lead: str, to_lead: str) -> None:
        """Move these profiles' messages of one lead to another (a split gives a side its lead back)."""

    @abstractmethod
    def iter_messages(self) -> AsyncIterator[StoredMessage]:
        """Every inbound message, in arrival order (export)."""


class GraphStore(ABC):
    """The identity graph: profiles, identifiers, evidence edges, persons and the recent-message blocking index."""

    # profiles and identifiers
    @abstractmethod
    async def get_profiles(self, keys: Sequence[str]) -> dict[str, Profile]: ...

    @abstractmethod
    async def put_profile(self, profile: Profile) -> None: ...

    @abstractmethod
    def iter_profiles(self) -> AsyncIterator[Profile]: ...

    @abstractmethod
    async def link_identifier(self, profile_key: str, identifier: Identifier) -> None: ...

    @abstractmethod
    async def identifiers_of(self, profile_keys: Sequence[str]) -> dict[str, list[Identifier]]: ...

    @abstractmethod
    async def profiles_by_identifier(self, identifier_keys: Sequence[str]) -> dict[str, list[str]]:
        """identifier key ("phone:+7...") -> profile keys linked to it."""

    @abstractmethod
    async def mark_shared(self, identifier_key: str, reason: str, at: datetime) -> None: ...

    @abstractmethod
    async def shared_among(self, identifier_keys: Sequence[str]) -> set[str]: ...

    @abstractmethod
    async def list_shared(self) -> list[tuple[str, str, datetime]]:
        """(identifier key, reason, since) of every identifier treated as shared."""

    @abstractmethod
    async def add_edge(self, a: str, b: str, score: float, evidence: Sequence[Evidence], at: datetime) -> None:
        """An evidence edge between two profiles (kept even when it did not merge)."""

    @abstractmethod
    async def edges_of(self, profile_keys: Sequence[str]) -> list[tuple[str, str, float, list[Evidence]]]: ...

    # persons
    @abstractmethod
    async def add_person(self, person: Person) -> None: ...

    @abstractmethod
    async def get_person(self, person_id: str) -> Person | None: ...

    @abstractmethod
    async def update_person(
        self, person_id: str, *, display_name: str | None = None, responsible: str | None = None
    ) -> None: ...

    @abstractmethod
    async def set_merged_into(self, person_id: str, into: str | None) -> None: ...

    @abstractmethod
    async def children_of(self, person_ids: Sequence[str]) -> list[str]:
        """Persons whose `merged_into` is one of these."""

    @abstractmethod
    async def profile_keys_of(self, person_ids: Sequence[str]) -> list[str]:
        """Profiles that joined one of these persons first."""

    @abstractmethod
    def iter_persons(self) -> AsyncIterator[Person]: ...

    @abstractmethod
    async def counts(self) -> dict[str, int]:
        """persons (roots), profiles, merges, suggestions pending, leads."""

    # recent messages (blocking index for evidence links)
    @abstractmethod
    async def add_recent(self, blocks: Iterable[str], hit: RecentHit) -> None: ...

    @abstractmethod
    async def recent(self, blocks: Iterable[str], since: datetime, limit: int) -> list[RecentHit]:
        """Recent messages sharing a blocking key, newest first."""

    @abstractmethod
    async def prune_recent(self, before: datetime) -> int: ...


class MergeStore(ABC):
    """Merges and splits, suggestions for review and "not the same person" marks."""

    @abstractmethod
    async def add_merge(self, record: MergeRecord) -> None: ...

    @abstractmethod
    async def get_merge(self, merge_id: str) -> MergeRecord | None: ...

    @abstractmethod
    async def set_merge_undone(self, merge_id: str, by: str) -> None: ...

    @abstractmethod
    async def merges(self, *, limit: int | None = None) -> list[MergeRecord]:
        """Audit records, newest first."""

    @abstractmethod
    async def add_suggestion(self, suggestion: Suggestion) -> bool:
        """Store a pending suggestion; False if one is already pending for the pair."""

    @abstractmethod
    async def get_suggestion(self, suggestion_id: str) -> Suggestion | None: ...

    @abstractmethod
    async def set_suggestion_status(self, suggestion_id: str, status: SuggestionStatus) -> None: ...

    @abstractmethod
    async def suggestions(self, status: SuggestionStatus = SuggestionStatus.PENDING) -> list[Suggestion]: ...

    @abstractmethod
    async def suggestions_of(self, person_ids: Sequence[str]) -> list[Suggestion]:
        """Pending suggestions naming one of these persons."""

    @abstractmethod
    async def add_cannot_link(self, a: str, b: str, actor: str, at: datetime) -> None: ...

    @abstractmethod
    async def cannot_links_of(self, person_ids: Sequence[str]) -> set[str]:
        """Every person id marked "not the same person" as one of these."""


class LeadStore(ABC):
    """Leads: one customer inquiry each, folded and restored with merges and splits."""

    @abstractmethod
    async def add_lead(self, lead: Lead) -> None: ...

    @abstractmethod
    async def get_lead(self, lead_id: str) -> Lead | None: ...

    @abstractmethod
    async def put_lead(self, lead: Lead) -> None: ...

    @abstractmethod
    async def leads_of(self, person_ids: Sequence[str]) -> list[Lead]:
        """Leads created for these persons, oldest first."""

    @abstractmethod
    async def leads_merged_by(self, merge_id: str) -> list[Lead]: ...

    @abstractmethod
    def iter_leads(self) -> AsyncIterator[Lead]: ...


class OutboxStore(ABC):
    """The outbox (managers' replies) and outbound bookkeeping."""

    @abstractmethod
    async def add_outbox(self, item: OutboxItem) -> None:
        """Store a new reply (status queued) before anything is sent."""

    @abstractmethod
    async def put_outbox(self, item: OutboxItem) -> None:
        """Replace a stored reply with this version (status, attempts, error, provider id)."""

    @abstractmethod
    async def get_outbox(self, item_id: str) -> OutboxItem | None: ...

    @abstractmethod
    async def outbox_by_provider_id(self, channel: str, provider_message_id: str) -> OutboxItem | None:
        """The reply a provider's delivery report names (Twilio status callbacks)."""

    @abstractmethod
    async def outbox_queued(self, before: datetime, limit: int) -> list[OutboxItem]:
        """Replies still queued that were created before `before`, oldest first (start-up recovery)."""

    @abstractmethod
    async def outbox_of(self, person_ids: Sequence[str], *, limit: int = 200) -> list[OutboxItem]:
        """Replies addressed to these persons, newest first (the inbox shows failed ones too)."""

    @abstractmethod
    async def mark_contact_asked(self, profile_key: str, at: datetime) -> bool:
        """Remember that this profile was asked for its phone; False if it already was (test-and-set)."""


class CrmStore(ABC):
    """The CRM push queue and the mapping of Stitch ids to CRM ids (crm/bitrix24/sync.py)."""

    @abstractmethod
    async def add_crm_job(self, job: CrmJob) -> bool:
        """Enqueue a push job; False (and nothing changes) if a job with this id was ever stored."""

    @abstractmethod
    async def claim_crm_jobs(self, now: datetime, lease: timedelta, limit: int) -> list[CrmJob]:
        """Queued jobs due at `now`, in enqueue order; their `due_at` moves to `now + lease` so other
        workers skip them until the lease runs out (a crashed worker's jobs come back by themselves).
        Call inside `atomic()`."""

    @abstractmethod
    async def put_crm_job(self, job: CrmJob) -> None:
        """Replace a stored job's status, attempts, due time and error (its place in the queue stays)."""

    @abstractmethod
    async def get_crm_job(self, job_id: str) -> CrmJob | None: ...

    @abstractmethod
    async def crm_jobs(self, status: CrmJobStatus, *, limit: int = 200) -> list[CrmJob]:
        """Jobs in one status, in enqueue order (ops: failed jobs and merges awaiting review)."""

    @abstractmethod
    async def crm_job_counts(self) -> dict[str, int]:
        """Jobs by status."""

    @abstractmethod
    async def set_crm_link(self, entity: str, stitch_id: str, remote_id: int) -> None:
        """Map a Stitch id to a CRM entity ("contact", "company", "lead", "deal"); replaces an old mapping."""

    @abstractmethod
    async def crm_link(self, entity: str, stitch_id: str) -> int | None: ...

    @abstractmethod
    async def crm_link_owner(self, entity: str, remote_id: int) -> str | None:
        """The Stitch id mapped to this CRM entity, if any."""

    @abstractmethod
    async def drop_crm_link(self, entity: str, stitch_id: str) -> None: ...


class InboxStore(ABC):
    """The managers' inbox: users, sessions, deals, audit, list rows and search."""

    @abstractmethod
    async def add_user(self, user: User) -> bool:
        """Store a new user; False if the name is taken."""

    @abstractmethod
    async def put_user(self, user: User) -> None:
        """Replace a stored user (new password, role, disabled)."""

    @abstractmethod
    async def get_user(self, name: str) -> User | None: ...

    @abstractmethod
    async def users(self) -> list[User]:
        """Every user, by name."""

    @abstractmethod
    async def add_session(self, session: Session) -> None: ...

    @abstractmethod
    async def get_session(self, token_hash: str) -> Session | None:
        """The session with this token hash (expired ones too: the caller checks `expires_at`)."""

    @abstractmethod
    async def delete_session(self, token_hash: str) -> None: ...

    @abstractmethod
    async def next_counter(self, name: str) -> int:
        """Increment a named counter shared by every worker and return the new value (first call: 1)."""

    @abstractmethod
    async def add_deal(self, deal: Deal) -> None: ...

    @abstractmethod
    async def put_deal(self, deal: Deal) -> None: ...

    @abstractmethod
    async def get_deal(self, deal_id: str) -> Deal | None: ...

    @abstractmethod
    async def deals_of(self, person_ids: Sequence[str]) -> list[Deal]:
        """Deals of these persons, oldest first."""

    @abstractmethod
    async def add_audit(self, entry: AuditEntry) -> None: ...

    @abstractmethod
    async def audit_log(self, *, person_ids: Sequence[str] | None = None, limit: int = 100) -> list[AuditEntry]:
        """Audit entries, newest first; only those about these persons when given."""

    @abstractmethod
    async def put_inbox_row(self, row: InboxRow) -> None:
        """Insert or replace the inbox list row of a person."""

    @abstractmethod
    async def inbox_rows(self, person_ids: Sequence[str]) -> dict[str, InboxRow]: ...

    @abstractmethod
    async def delete_inbox_rows(self, person_ids: Sequence[str]) -> None: ...

    @abstractmethod
    async def inbox_page(
        self,
        *,
        responsible: Sequence[str] | None = None,
        flag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[InboxRow]:
        """A page of the inbox list: persons with unread messages first, then the latest activity first.

        `responsible`: only rows assigned to one of these names ("" is the unassigned queue).
        `flag`: only rows with this flag set ("repeat_lead", "repeat_inquiry", "repeat_deal").
        Served from an index: a page costs the same at 100,000 persons as at 100.
        """

    @abstractmethod
    async def inbox_row_count(self) -> int: ...

    @abstractmethod
    async def find_profiles(self, word: str, *, limit: int = 50) -> list[str]:
        """Profile keys whose name or handle has a word starting with `word` (case-folded), via an index."""


class OpsStore(ABC):
    """Ops views: bounded whole-store aggregates (one GROUP BY each), never on the hot path."""

    @abstractmethod
    async def person_sizes(self) -> dict[int, int]:
        """Histogram of current persons (roots) by profile count: profiles -> persons of that size."""

    @abstractmethod
    async def largest_persons(self, limit: int) -> list[tuple[str, int]]:
        """(root person id, profile count) of the largest current persons, largest first (ties by id)."""

    @abstractmethod
    async def merge_counts(self) -> dict[str, int]:
        """Audit records by kind ("auto", "manual", "split"), undone merges included."""

    @abstractmethod
    async def outbox_counts(self) -> dict[str, int]:
        """Replies by status."""

    @abstractmethod
    async def outbox_failed(self, limit: int) -> list[OutboxItem]:
        """Replies that failed, most recently updated first."""


class PersonalDataStore(ABC):
    """One person's data: export, erasure and retention (app/personal.py)."""

    @abstractmethod
    def iter_events(self) -> AsyncIterator[Envelope]:
        """Every stored raw event, in no particular order (erasure looks for one person's; not a hot path)."""

    @abstractmethod
    async def erase(self, erasure: Erasure) -> None:
        """Delete or blank what `erasure` names in one unit of work, so that nothing of it stays
        readable in the store's files either (SQLite: freed pages zeroed, the WAL truncated)."""

    @abstractmethod
    async def expire(self, before: datetime) -> dict[str, int]:
        """Retention: blank message and reply texts, raw provider payloads and CRM job payloads older
        than `before` (work still pending keeps its own) and drop older recent-message entries;
        profiles, identifiers and merges stay. How many of each: messages, replies, events, crm_jobs, recent."""

    @abstractmethod
    async def put_note(self, name: str, value: str) -> None:
        """Keep a small named value (the last retention sweep) for the ops pages."""

    @abstractmethod
    async def get_note(self, name: str) -> str | None: ...


class BaseStore(
    Lifecycle,
    EventStore,
    GraphStore,
    MergeStore,
    LeadStore,
    OutboxStore,
    CrmStore,
    InboxStore,
    OpsStore,
    PersonalDataStore,
):
    """Stitch's state, one seam per area above on one connection and one unit of work.
    Backends: SqliteStore (one file) and RedisStore (shared by many workers)."""

    # -- written once on top of the primitives ---------------------------------------------------
    async def forgotten(self, person_id: str) -> bool:
        """True when the person this id stands for was erased (an audit entry records it)."""
        root = await self.root_of(person_id)
        entries = await self.audit_log(person_ids=[root], limit=1000)
        return any(entry.action == FORGET_ACTION for entry in entries)

    async def root_of(self, person_id: str) -> str:
        """The person this id stands for now: merged-away ids resolve to the survivor."""
        current = person_id
        for _ in range(MAX_ALIAS_DEPTH):
            person = await self.get_person(current)
            if person is None or person.merged_into is None:
                return current
            current = person.merged_into
        raise RuntimeError(f"alias chain of {person_id} is longer than {MAX_ALIAS_DEPTH}")

    async def members_of(self, root: str) -> list[str]:
        """The root and every person merged into it, transitively."""
        members = [root]
        frontier = [root]
        while frontier:
            frontier = await self.children_of(frontier)
            members.extend(frontier)
        return members

    async def profiles_of(self, root: str) -> list[Profile]:
        keys = await self.profile_keys_of(await self.members_of(root))
        found = await self.get_profiles(keys)
        return [found[k] for k in keys if k in found]

    async def person_of_profile(self, profile_key: str) -> str | None:
        found = await self.get_profiles([profile_key])
        profile = found.get(profile_key)
        return None if profile is None else await self.root_of(profile.person_id)

    async def open_lead_of(self, root: str) -> Lead | None:
        """The newest lead of the person that is still open and not folded into another."""
        leads = await self.leads_of(await self.members_of(root))
        open_leads = [lead for lead in leads if lead.status.is_open and lead.merged_into is None]
        return max(open_leads, key=lambda lead: lead.created_at) if open_leads else None

    async def lead_root(self, lead_id: str) -> str:
        current = lead_id
        for _ in range(MAX_ALIAS_DEPTH):
            lead = await self.get_lead(current)
            if lead is None or lead.merged_into is None:
                return current
            current = lead.merged_into
        raise RuntimeError(f"lead alias chain of {lead_id} is longer than {MAX_ALIAS_DEPTH}")
