"""What the store keeps: profiles, persons, leads, merges, suggestions, stored messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.values import Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """One channel account of a customer: a Telegram user, a WhatsApp number, an Avito user, a visitor."""

    key: str
    channel: Channel
    user_id: str
    account: str
    chat_id: str
    name: str
    handle: str
    person_id: str  # the person the profile joined first; the current person is its root
    first_seen: datetime
    last_seen: datetime
    unreachable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    person_id: str
    created_at: datetime
    display_name: str
    responsible: str = ""
    merged_into: str | None = None  # set while this person is merged into another


class LeadStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    QUALIFIED = "qualified"
    PROPOSAL = "proposal_sent"
    CONSENT = "consent_received"
    CONVERTED = "converted"
    JUNK = "junk"

    @property
    def is_open(self) -> bool:
        return self not in (LeadStatus.CONVERTED, LeadStatus.JUNK)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lead:
    lead_id: str
    person_id: str
    status: LeadStatus
    is_repeat: bool
    created_at: datetime
    last_activity: datetime
    channel: Channel
    responsible: str = ""
    junk_reason: str = ""
    merged_into: str | None = None  # set while the person's merge folded this lead into another
    merged_by: str | None = None  # the merge that folded it, so a split can unfold it


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One reason two profiles are (or may be) the same customer."""

    rule: str  # e.g. "phone", "email", "channel_account", "name", "text", "time"
    detail: str  # plain words for managers; identifiers masked
    score: float = 0.0
    values: Mapping[str, str] = field(default_factory=dict)  # the compared values, for ops (unmasked)


class MergeKind(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"
    SPLIT = "split"


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeRecord:
    """An audit record: `from_` was merged into `into` (or, for a split, separated from it)."""

    merge_id: str
    at: datetime
    kind: MergeKind
    into: str
    from_: str
    evidence: tuple[Evidence, ...]
    actor: str
    undone_by: str | None = None  # the split that undid this merge
    undoes: str | None = None  # for a split: the merge it undid


class SuggestionStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class Suggestion:
    suggestion_id: str
    a: str
    b: str
    score: float
    evidence: tuple[Evidence, ...]
    created_at: datetime
    status: SuggestionStatus = SuggestionStatus.PENDING


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    event_id: str
    channel: Channel
    provider_message_id: str
    profile_key: str
    lead_id: str
    sent_at: datetime
    direction: Direction
    text: str
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecentHit:
    """A recent message found through a blocking key: a candidate for evidence links."""

    profile_key: str
    event_id: str
    at: datetime
    text: str


class EventStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    IGNORED = "ignored"
    FAILED = "failed"  # parked: resolving it kept raising; waits for `stitch events retry`


@dataclass(frozen=True, slots=True, kw_only=True)
class ParkedEvent:
    """A stored event whose resolution kept raising, set aside with why (ops, `stitch events failed`)."""

    event_id: str
    channel: str
    received_at: datetime
    attempts: int  # resolutions tried, over every parking of this event
    reason: str  # the error's one-line summary, never the customer's text


class OutboxStatus(StrEnum):
    """Where a reply got to. Only moves forward: queued → sent → delivered → read, or → failed."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxItem:
    """A manager's reply, stored before it is sent so a crash cannot lose it."""

    id: str
    person_id: str
    profile_key: str
    channel: Channel
    text: str
    status: OutboxStatus
    created_at: datetime
    updated_at: datetime
    actor: str = ""
    attempts: int = 0  # provider calls started; >0 without provider_message_id = outcome unknown
    error: str = ""
    provider_message_id: str = ""


class CrmJobStatus(StrEnum):
    """Where a CRM push job is: waiting (or backing off), pushed, given up, or waiting for a human."""

    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"
    REVIEW = "review"  # the CRM refused to do it alone (a merge CONFLICT): a person must look


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmJob:
    """One durable push to the CRM, stored in the unit of work of the Stitch change that caused it.

    `job_id` is derived from the cause (event, merge, lead), so enqueueing the same cause twice is a
    no-op; `subject` is the Stitch id the job is about; `payload` carries what the store cannot
    rebuild later (a message's text for a timeline comment).
    """

    job_id: str
    kind: str
    subject: str
    created_at: datetime
    due_at: datetime
    payload: Mapping[str, str] = field(default_factory=dict)
    status: CrmJobStatus = CrmJobStatus.QUEUED
    attempts: int = 0
    error: str = ""
