"""The resolver service: one message in, its person out (created, joined or merged).

Three steps per message: read its neighbourhood (`resolver.neighbourhood`), decide with a pure
function (`resolver.decide`), apply the decision through the `Merger`, the only place that merges.
The profile is written and the message indexed last, so a message never finds itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.config import ResolverSettings
from core.errors import MergeRefused
from core.names import parse_name
from core.records import Evidence, MergeKind, MergeRecord, Person, Profile, RecentHit, Suggestion
from core.values import Message
from resolver.blocking import FULL_NAME_SPAN, message_blocks
from resolver.comparison import PairLevels
from resolver.decide import CHANNEL_TITLES, Decision, decide, describe_identifier, pair_probability
from resolver.merge import Merger, new_id
from resolver.model import Model
from resolver.neighbourhood import Neighbourhood, read_neighbourhood
from store.base import BaseStore

__all__ = ["CHANNEL_TITLES", "RECENT_MARGIN", "Resolution", "Resolver", "describe_identifier", "display_name"]

log = logging.getLogger("stitch.resolver")

# The blocking index of recent messages is read no further back than FULL_NAME_SPAN (or the time
# window, if longer); a day more allows for late deliveries. Older entries, copies of message texts
# included, are deleted once per PRUNE_EVERY of traffic, so the index does not grow with history.
RECENT_MARGIN = timedelta(days=1)
PRUNE_EVERY = timedelta(days=1)


@dataclass(slots=True, kw_only=True)
class Resolution:
    """What the resolver decided for one message."""

    person_id: str
    profile_key: str
    new_person: bool = False
    known_before: bool = False  # the person existed before this message (a repeat inquiry)
    own_person: str = ""  # the person created for a new profile (kept as its home, so a split restores it)
    merges: list[MergeRecord] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)


def display_name(names: Sequence[str], fallback: str) -> str:
    """The fullest personal name seen; otherwise the first non-empty one; otherwise the fallback."""
    parsed = [(parse_name(n), n) for n in names if n.strip()]
    personal = [(len(p.given) + len(p.surnames), len(raw), raw) for p, raw in parsed if p.usable]
    if personal:
        return max(personal)[2]
    return parsed[0][1] if parsed else fallback


class Resolver:
    def __init__(
        self, store: BaseStore, merger: Merger, settings: ResolverSettings, model: Model | None = None
    ) -> None:
        self.store = store
        self.merger = merger
        self.settings = settings
        self.model = model  # read by `load_model` (at start-up, or before the first message)
        self.model_source = ""
        self.window = timedelta(seconds=settings.time_window_s)
        self.recent_keep = max(self.window, FULL_NAME_SPAN) + RECENT_MARGIN
        self._pruned_at = datetime.min.replace(tzinfo=UTC)

    def lock_keys(self, message: Message) -> list[str]:
        """Keys whose holders could decide about the same person concurrently."""
        return sorted({message.profile_key, *(i.key for i in message.identifiers), *message_blocks(message)})

    async def load_model(self) -> Model:
        """Read the model to score with (ModelError, naming the file, if it cannot be used)."""
        from resolver.training import resolver_model

        self.model, self.model_source = await resolver_model(self.store, self.settings)
        return self.model

    async def resolve(self, message: Message) -> Resolution:
        model = self.model or await self.load_model()

        def weigh(levels: PairLevels, other: Profile) -> float:
            return pair_probability(model, message, other, levels)

        hood = await read_neighbourhood(self.store, message, self.window, weigh, self.settings.review_probability)
        decision = decide(message, hood, self.settings, model)
        return await self.apply(message, hood, decision)

    # -- apply -------------------------------------------------------------------------------------
    async def apply(self, message: Message, hood: Neighbourhood, decision: Decision) -> Resolution:
        store = self.store
        at = message.received_at
        existing = hood.profile
        person = hood.person.root if hood.person else None
        res = Resolution(person_id=person or "", profile_key=message.profile_key, known_before=person is not None)
        for ident_key, reason in decision.shared:
            await store.mark_shared(ident_key, reason, at)
        for edge in decision.edges:
            await store.add_edge(message.profile_key, edge.other, edge.score, edge.evidence, at)
        if person is None:
            # A new profile joins through a merge of its own new person, so the link is audited,
            # explained and can be split like any other.
            person = await self._new_person(message, res)
        if decision.merges:
            person = await self._merge(person, decision, res, at)
        for link in decision.suggestions:
            suggestion = Suggestion(
                suggestion_id=new_id("g"),
                a=person,
                b=link.root,
                score=link.probability,  # the review queue shows a match probability
                evidence=link.evidence,
                created_at=at,
            )
            if await store.add_suggestion(suggestion):
                res.suggestions.append(suggestion)
        res.person_id = person

        await store.put_profile(
            Profile(
                key=message.profile_key,
                channel=message.channel,
                user_id=message.user_id,
                account=message.account,
                chat_id=message.chat_id,
                name=message.name or (existing.name if existing else ""),
                handle=message.handle or (existing.handle if existing else ""),
                person_id=existing.person_id if existing else (res.own_person or person),
                first_seen=existing.first_seen if existing else at,
                last_seen=at,
                unreachable=existing.unreachable if existing else False,
            )
        )
        for ident in message.identifiers:
            await store.link_identifier(message.profile_key, ident)
        if hood.blocks:
            hit = RecentHit(profile_key=message.profile_key, event_id=message.event_id, at=at, text=message.text[:500])
            await store.add_recent(sorted(hood.blocks), hit)
        if res.merges:
            names = [p.name for p in await store.profiles_of(person)] + [message.name]
            await store.update_person(person, display_name=display_name(names, message.profile_key))
        if at - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = at
            await store.prune_recent(at - self.recent_keep)
        return res

    async def _merge(self, person: str, decision: Decision, res: Resolution, at: datetime) -> str:
        """Join the message's person and the persons the decision links, into the oldest of them."""
        store = self.store
        group = {person: await store.get_person(person)}
        for link in decision.merges:
            group[link.root] = await store.get_person(link.root)
        found = [p for p in group.values() if p is not None]
        survivor = min(found, key=lambda p: (p.created_at, p.person_id)).person_id
        evidence_of = {link.root: link.evidence for link in decision.merges}
        first = decision.merges[0].evidence
        for root in group:
            if root == survivor:
                continue
            evidence: tuple[Evidence, ...] = evidence_of.get(root) or evidence_of.get(survivor) or first
            try:
                record = await self.merger.perform(
                    survivor, root, kind=MergeKind.AUTO, evidence=evidence, actor="resolver", at=at
                )
            except MergeRefused as e:
                # `decide` keeps persons marked apart out of one group; a refusal here means the store
                # changed under the decision. The message still gets a person: log and go on.
                log.warning("merge refused while resolving", extra={"reason": str(e)})
                continue
            res.merges.append(record)
        res.known_before = True
        res.new_person = res.new_person and survivor == res.own_person
        return survivor

    async def _new_person(self, message: Message, res: Resolution) -> str:
        pid = new_id("p")
        name = display_name([message.name], message.handle or message.profile_key)
        await self.store.add_person(Person(person_id=pid, created_at=message.received_at, display_name=name))
        res.new_person = True
        res.own_person = pid
        return pid
