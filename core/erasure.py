"""What erasing one person touches (GDPR art. 17, 152-FZ art. 21): ids only, never the data itself."""

from __future__ import annotations

from dataclasses import dataclass

# The audit action that records an erasure; its entry names the person's id, the actor and the time.
FORGET_ACTION = "person.forget"


@dataclass(frozen=True, slots=True, kw_only=True)
class Erasure:
    """Everything a store removes or blanks for one person, collected before anything is touched.

    Rows are deleted (events, messages, replies, profiles with their identifier links, edges,
    recent-message entries, name-index words, suggestions) or stripped of personal fields (the
    evidence of merge records, CRM job payloads, audit details); ids stay so the audit trail and
    other persons' records keep their shape.
    """

    person_ids: tuple[str, ...]
    profile_keys: tuple[str, ...]
    identifier_keys: tuple[str, ...]
    event_ids: tuple[str, ...]
    message_ids: tuple[str, ...]
    outbox_ids: tuple[str, ...]
    suggestion_ids: tuple[str, ...]
    merge_ids: tuple[str, ...]
    crm_job_ids: tuple[str, ...]
    audit_ids: tuple[str, ...]
