"""The one place that merges and splits persons (Chatwoot's ContactMergeAction in spirit).

A merge points the absorbed person at the survivor (`merged_into`); profiles and messages stay where
they are and are found through the alias, so clearing that pointer gives both sides their profiles
and messages back. What was addressed to the merged person while merged follows the channel profile
it belongs to: a split moves each reply to the side that owns its profile now, and the lead book
(a MergeListener) sorts out leads. Every merge and split is an audit record with its evidence and actor.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from core.errors import MergeRefused, NotFound
from core.records import Evidence, MergeKind, MergeRecord, SuggestionStatus
from store.base import GRAPH_LOCK, BaseStore


class MergeListener(Protocol):
    """Reacts to identity decisions (the lead book); never decides identity itself."""

    async def merged(self, record: MergeRecord) -> None: ...

    async def split(self, record: MergeRecord, undone: MergeRecord) -> None: ...


# Replies of the two sides a split looks at; a person has a handful, this bounds a corrupt store.
SPLIT_REPLIES = 100_000

# Ids created while resolving an event derive from the event id, so a worker that crashes half-way
# and an event processed again produce the same persons, leads and merges (idempotent effects).
_seed: ContextVar[tuple[str, list[int]] | None] = ContextVar("stitch_id_seed", default=None)


@contextmanager
def ids_from(event_id: str) -> Iterator[None]:
    token = _seed.set((event_id, [0]))
    try:
        yield
    finally:
        _seed.reset(token)


def new_id(prefix: str) -> str:
    seeded = _seed.get()
    if seeded is None:
        return f"{prefix}_{secrets.token_hex(6)}"
    event_id, counter = seeded
    counter[0] += 1
    digest = hashlib.blake2b(f"{event_id}/{prefix}/{counter[0]}".encode(), digest_size=6).hexdigest()
    return f"{prefix}_{digest}"


class Merger:
    """Merges, splits and "not the same person"; each holds the graph lock (GRAPH_LOCK) of a store
    with several processes, so one made by hand never interleaves with the graph writer's batch."""

    def __init__(self, store: BaseStore, listeners: Sequence[MergeListener] = ()) -> None:
        self.store = store
        self.listeners = list(listeners)

    async def perform(
        self,
        into: str,
        from_: str,
        *,
        kind: MergeKind,
        evidence: Sequence[Evidence],
        actor: str,
        at: datetime,
    ) -> MergeRecord:
        """Merge person `from_` into `into` (both resolved to their current roots first)."""
        async with self.store.lock([GRAPH_LOCK]):
            return await self._perform(into, from_, kind=kind, evidence=evidence, actor=actor, at=at)

    async def _perform(
        self,
        into: str,
        from_: str,
        *,
        kind: MergeKind,
        evidence: Sequence[Evidence],
        actor: str,
        at: datetime,
    ) -> MergeRecord:
        into, from_ = await self._roots(into, from_)
        await self._refuse_if_not_mergeable(into, from_)
        record = MergeRecord(
            merge_id=new_id("m"), at=at, kind=kind, into=into, from_=from_, evidence=tuple(evidence), actor=actor
        )
        await self.store.set_merged_into(from_, into)
        await self.store.add_merge(record)
        await self._settle_suggestions(into, from_, SuggestionStatus.ACCEPTED)
        for listener in self.listeners:
            await listener.merged(record)
        return record

    async def split(self, merge_id: str, *, actor: str, at: datetime) -> MergeRecord:
        """Undo a merge: the absorbed side gets its profiles, messages and leads back."""
        async with self.store.lock([GRAPH_LOCK]):
            return await self._split(merge_id, actor=actor, at=at)

    async def _split(self, merge_id: str, *, actor: str, at: datetime) -> MergeRecord:
        merge = await self.store.get_merge(merge_id)
        if merge is None:
            raise NotFound("merge", merge_id)
        if merge.kind is MergeKind.SPLIT:
            raise MergeRefused(f"{merge_id} is a split, not a merge")
        if merge.undone_by is not None:
            raise MergeRefused(f"{merge_id} was already split by {merge.undone_by}")
        if await self.store.forgotten(merge.into):
            # The erasure removed the profiles and evidence a split would hand back to each side.
            raise MergeRefused(f"{merge_id} joined a person whose data was erased; it can no longer be split")
        record = MergeRecord(
            merge_id=new_id("s"),
            at=at,
            kind=MergeKind.SPLIT,
            into=merge.into,
            from_=merge.from_,
            evidence=merge.evidence,
            actor=actor,
            undoes=merge_id,
        )
        await self.store.set_merged_into(merge.from_, None)
        await self.store.add_merge(record)
        await self.store.set_merge_undone(merge_id, record.merge_id)
        await self._return_replies(merge)
        # A split is the strongest "not the same person" there is: never merge them again by itself.
        await self.store.add_cannot_link(merge.into, merge.from_, actor, at)
        for listener in self.listeners:
            await listener.split(record, merge)
        return record

    async def _return_replies(self, merge: MergeRecord) -> None:
        """A reply stays with the channel profile it was sent to: it goes to the side owning that profile.

        While merged a reply is addressed to the root of the day; it is readdressed to the profile's
        home person (not the side's root), so a later split deeper in a chain finds it on the right side.
        """
        sides = (
            await self.store.members_of(await self.store.root_of(merge.into)),
            await self.store.members_of(merge.from_),
        )
        side_of = {pid: n for n, members in enumerate(sides) for pid in members}
        replies = await self.store.outbox_of([*sides[0], *sides[1]], limit=SPLIT_REPLIES)
        profiles = await self.store.get_profiles(sorted({r.profile_key for r in replies}))
        for reply in replies:
            profile = profiles.get(reply.profile_key)
            home = side_of.get(profile.person_id) if profile is not None else None
            if profile is not None and home is not None and home != side_of.get(reply.person_id):
                await self.store.put_outbox(replace(reply, person_id=profile.person_id))

    async def not_same(self, a: str, b: str, *, actor: str, at: datetime) -> None:
        async with self.store.lock([GRAPH_LOCK]):
            await self._not_same(a, b, actor=actor, at=at)

    async def _not_same(self, a: str, b: str, *, actor: str, at: datetime) -> None:
        a, b = await self._roots(a, b)
        if a == b:
            raise MergeRefused(f"{a} and {b} are one person now: split the merge instead")
        await self.store.add_cannot_link(a, b, actor, at)
        await self._settle_suggestions(a, b, SuggestionStatus.REJECTED)

    async def cannot_link(self, a_members: Sequence[str], b_members: Sequence[str]) -> bool:
        blocked = await self.store.cannot_links_of(a_members)
        return not blocked.isdisjoint(b_members)

    async def _roots(self, a: str, b: str) -> tuple[str, str]:
        for pid in (a, b):
            if await self.store.get_person(pid) is None:
                raise NotFound("person", pid)
        return await self.store.root_of(a), await self.store.root_of(b)

    async def _refuse_if_not_mergeable(self, into: str, from_: str) -> None:
        if into == from_:
            raise MergeRefused(f"{into} and {from_} are already one person")
        if await self.cannot_link(await self.store.members_of(into), await self.store.members_of(from_)):
            raise MergeRefused(f"{into} and {from_} are marked as not the same person")

    async def _settle_suggestions(self, a: str, b: str, status: SuggestionStatus) -> None:
        members_a = set(await self.store.members_of(a))
        members_b = set(await self.store.members_of(b))
        for suggestion in await self.store.suggestions_of(sorted(members_a)):
            pair = {suggestion.a, suggestion.b}
            if pair & members_a and pair & members_b:
                await self.store.set_suggestion_status(suggestion.suggestion_id, status)
