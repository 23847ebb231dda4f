"""Blocking: the few profiles worth comparing with a message, found through indexes only.

Three sources, none of which scans the store: profiles sharing an exact identifier; recent messages
(within the time window) sharing a name or text blocking key; and, over a longer span, messages
signed with the same full name (only ever a suggestion: namesakes exist).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from core.names import name_blocks, parse_name
from core.records import RecentHit
from core.text import is_generic_text, text_blocks
from core.values import Message
from store.base import BaseStore

# Newest recent messages read per event; bounds the work when a common name floods the window.
RECENT_LIMIT = 60
# How far back a full name (given name and surname) is looked up, and how many hits are read.
FULL_NAME_SPAN = timedelta(days=14)
FULL_NAME_LIMIT = 10


def message_blocks(message: Message) -> frozenset[str]:
    return _blocks(message.name, message.text)


@lru_cache(maxsize=65536)
def _blocks(name: str, text: str) -> frozenset[str]:
    blocks = {f"n:{b}" for b in name_blocks(parse_name(name))}
    if text and not is_generic_text(text):
        blocks.update(f"t:{b}" for b in text_blocks(text))
    blocks.update(f"f:{key}" for key in full_name_keys(name))
    return frozenset(blocks)


def full_name_keys(name: str) -> frozenset[str]:
    """Keys of a given name with a surname; two words we cannot tell apart count as such a pair."""
    parsed = parse_name(name)
    if parsed.given and parsed.surnames:
        return frozenset(f"{g}|{s}" for g in parsed.given for s in parsed.surnames)
    if not parsed.given and len(parsed.surnames) == 2:
        return frozenset(["|".join(sorted(parsed.surnames))])
    return frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidates:
    by_identifier: dict[str, list[str]]  # identifier key -> other profiles linked to it
    recent: list[RecentHit]  # recent messages of other profiles sharing a blocking key
    namesakes: list[RecentHit]  # older messages of other profiles signed with the same full name


async def find_candidates(store: BaseStore, message: Message, blocks: Sequence[str], window: timedelta) -> Candidates:
    own = message.profile_key
    linked = await store.profiles_by_identifier([i.key for i in message.identifiers])
    by_identifier = {ident: [k for k in keys if k != own] for ident, keys in linked.items()}
    since: datetime = message.received_at - window
    hits = await store.recent(blocks, since, RECENT_LIMIT) if blocks else []
    full = [b for b in blocks if b.startswith("f:")]
    older = await store.recent(full, message.received_at - FULL_NAME_SPAN, FULL_NAME_LIMIT) if full else []
    return Candidates(
        by_identifier=by_identifier,
        recent=[h for h in hits if h.profile_key != own and h.at >= since],
        namesakes=[h for h in older if h.profile_key != own and h.at < since],
    )
