"""The neighbourhood of a message: everything `decide` may look at, read in one step.

Blocking finds the candidates (profiles sharing an identifier, recent messages sharing a name or
text key, older messages signed with the same full name); comparison turns each recent candidate
into a `Pair` of comparison levels; the persons behind the candidates are read as `PersonView`s
with their members, profiles and "not the same person" marks. Nothing here decides: the value is
handed to `resolver.decide.decide`, which is pure.

Each pair is weighed once, here (`weigh`: its match probability, kept on the `Pair` for `decide`), and
persons behind recent messages are read only for pairs that could reach the review queue: a dense
hour holds dozens of unrelated messages sharing a common first name or a stock question, and reading
each one's person would cost more than resolving the message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.records import Profile, RecentHit
from core.values import Message, Provenance
from resolver.blocking import Candidates, find_candidates, message_blocks
from resolver.comparison import PairLevels, compare_pair
from store.base import BaseStore


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonView:
    """One person as `decide` sees it: its root id, every id merged into it and its profiles."""

    root: str
    created_at: datetime
    members: frozenset[str]
    profiles: tuple[Profile, ...]
    blocked: frozenset[str]  # person ids marked "not the same person" as one of the members

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.profiles if p.name]

    def keeps_apart(self, other: PersonView) -> bool:
        return not self.blocked.isdisjoint(other.members) or not other.blocked.isdisjoint(self.members)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    """A recent message of another profile, compared with the message being resolved."""

    hit: RecentHit
    other: Profile
    root: str  # the other profile's person
    levels: PairLevels
    probability: float  # the pair's match probability, without its evidence written down


@dataclass(frozen=True, slots=True, kw_only=True)
class Neighbourhood:
    blocks: frozenset[str]
    profile: Profile | None  # the message's own profile, when seen before
    person: PersonView | None  # that profile's person
    by_identifier: Mapping[str, tuple[str, ...]]  # identifier key -> other profiles holding it
    channel_verified: Mapping[str, frozenset[str]]  # identifier key -> profiles whose channel vouches for it
    shared: frozenset[str]  # identifier keys known to join several people
    profiles: Mapping[str, Profile]  # every candidate profile
    root_of: Mapping[str, str]  # candidate profile key -> its person's root
    persons: Mapping[str, PersonView]  # the candidate persons worth deciding about, by root
    pairs: tuple[Pair, ...]  # recent candidates, compared
    namesakes: tuple[tuple[RecentHit, Profile, str], ...]  # older same-full-name messages: hit, profile, root
    edges: tuple[tuple[str, str, float], ...]  # earlier evidence links from the person's other profiles


Weigh = Callable[[PairLevels, Profile], float]


async def read_neighbourhood(
    store: BaseStore, message: Message, window: timedelta, weigh: Weigh, review: float
) -> Neighbourhood:
    key = message.profile_key
    existing = (await store.get_profiles([key])).get(key)
    own_root = await store.root_of(existing.person_id) if existing else None
    blocks = message_blocks(message)
    found: Candidates = await find_candidates(store, message, sorted(blocks), window)

    ident_keys = {k for keys in found.by_identifier.values() for k in keys}
    hit_keys = {h.profile_key for h in (*found.recent, *found.namesakes)}
    profiles = await store.get_profiles(sorted(ident_keys | hit_keys))
    root_of = {k: await store.root_of(p.person_id) for k, p in profiles.items()}

    pairs: list[Pair] = []
    for hit in found.recent:
        other = profiles.get(hit.profile_key)
        if other is None or root_of[other.key] == own_root:
            continue
        levels = compare_pair(message, other, hit)
        pairs.append(
            Pair(hit=hit, other=other, root=root_of[other.key], levels=levels, probability=weigh(levels, other))
        )
    namesakes = [
        (hit, profiles[hit.profile_key], root_of[hit.profile_key])
        for hit in found.namesakes
        if hit.profile_key in profiles and root_of[hit.profile_key] != own_root
    ]

    ident_roots = {root_of[k] for k in ident_keys if k in root_of} - {own_root or ""}
    wanted = set(ident_roots)
    wanted |= {p.root for p in pairs if p.probability >= review}
    wanted |= {root for _, _, root in namesakes}
    wanted.discard(own_root or "")
    persons = {root: await _view(store, root) for root in sorted(wanted)}
    person = await _view(store, own_root) if own_root else None

    ident_list = [k for k, keys in found.by_identifier.items() if keys]
    shared = await store.shared_among(ident_list) if ident_list else set()
    verified: dict[str, frozenset[str]] = {}
    if ident_list:
        links = await store.identifiers_of(sorted(ident_keys))
        for ident in ident_list:
            verified[ident] = frozenset(
                k for k, ids in links.items() for i in ids if i.key == ident and i.provenance is Provenance.CHANNEL
            )

    edges: list[tuple[str, str, float]] = []
    if any(p.levels.exact_text for p in pairs):
        # The impatient customer's second channel matching the same person again corroborates; the
        # group may grow through identifiers first, so the earlier links of those profiles count too.
        ours = [p.key for p in person.profiles] if person else []
        ours += [p.key for root in ident_roots for p in persons[root].profiles]
        others = sorted({k for k in ours if k != key})
        if others:
            edges = [(a, b, score) for a, b, score, _ in await store.edges_of(others)]

    return Neighbourhood(
        blocks=blocks,
        profile=existing,
        person=person,
        by_identifier={k: tuple(v) for k, v in found.by_identifier.items() if v},
        channel_verified=verified,
        shared=frozenset(shared),
        profiles=profiles,
        root_of=root_of,
        persons=persons,
        pairs=tuple(pairs),
        namesakes=tuple(namesakes),
        edges=tuple(edges),
    )


async def _view(store: BaseStore, root: str) -> PersonView:
    person = await store.get_person(root)
    members = await store.members_of(root)
    return PersonView(
        root=root,
        created_at=person.created_at if person else datetime.min.replace(tzinfo=UTC),
        members=frozenset(members),
        profiles=tuple(await store.profiles_of(root)),
        blocked=frozenset(await store.cannot_links_of(members)),
    )
