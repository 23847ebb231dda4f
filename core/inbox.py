"""What the managers' inbox keeps: users, sessions, deals, the audit log and one list row per person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    MANAGER = "manager"
    SUPERVISOR = "supervisor"
    OPS = "ops"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """Someone who logs in to the inbox; `password_hash` is an argon2 hash, never the password."""

    name: str
    role: Role
    password_hash: str
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A login: the cookie carries a random token; the store keeps only its hash."""

    token_hash: str
    user: str
    csrf: str
    created_at: datetime
    expires_at: datetime


class DealKind(StrEnum):
    """How a lead was converted (the CRM practice)."""

    CONTACT = "contact"  # Deal + Contact: a private person
    CONTACT_COMPANY = "contact_company"  # Deal + Contact + Company: a legal entity
    DEAL_ONLY = "deal_only"  # Deal only: an existing client


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True, slots=True, kw_only=True)
class Deal:
    """A deal opened by converting a lead."""

    deal_id: str
    lead_id: str
    person_id: str
    kind: DealKind
    title: str
    created_at: datetime
    actor: str
    status: DealStatus = DealStatus.OPEN
    amount: float = 0.0
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    company_name: str = ""
    company_tax_id: str = ""
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One action by a user (or the system) on a person, lead, deal or merge."""

    entry_id: str
    at: datetime
    actor: str
    action: str  # e.g. "merge", "split", "not_same", "reply", "lead.stage", "lead.convert"
    person_id: str = ""
    target: str = ""  # the merge, lead, deal or suggestion the action was about
    detail: str = ""  # plain words; identifiers masked


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxRow:
    """One person as the inbox list shows it; kept up to date as messages and replies come and go.

    `awaiting_since` is the first customer message not yet answered (the first-response timer);
    the flags are recomputed after every merge and split.
    """

    person_id: str
    display_name: str
    responsible: str
    last_at: datetime
    last_channel: str
    channels: tuple[str, ...]
    unread: int = 0
    awaiting_since: datetime | None = None
    lead_id: str = ""
    lead_status: str = ""
    repeat_lead: bool = False
    repeat_inquiry: bool = False
    repeat_deal: bool = False


def search_words(*texts: str) -> set[str]:
    """The words a person can be found by: each word case-folded as written, and folded to Latin.

    "Саша Петров" -> {"саша", "петров", "sasha", "petrov"}: a manager may type either script.
    """
    from core.names import fold_token  # names pulls in the given-name tables; only the index needs it

    words: set[str] = set()
    for text in texts:
        for raw in text.replace("@", " ").replace(".", " ").replace("_", " ").split():
            word = "".join(ch for ch in raw.casefold() if ch.isalnum())
            if not word:
                continue
            words.add(word)
            folded = fold_token(word)
            if folded:
                words.add(folded)
    return words
