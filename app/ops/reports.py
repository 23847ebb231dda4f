"""What the ops pages and `stitch graph` report, computed from the store (no HTML here).

Each report is bounded: whole-store figures come from one aggregate query each (person sizes),
lists are capped. None of this runs on the per-message path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import networkx as nx

from core.config import Settings
from core.errors import MergeRefused, NotFound
from core.phones import normalize_email, normalize_phone
from core.records import MergeRecord, Suggestion
from core.text import is_generic_text
from resolver.graph import Step, explain_path, profiles_graph
from store.base import BaseStore

LARGEST_LISTED = 20
SHARED_LISTED = 100
MERGES_LISTED = 100
REVIEW_LISTED = 50
FAILURES_LISTED = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class LargePerson:
    person_id: str
    display_name: str
    profiles: int
    alarmed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SizeReport:
    """Persons by size, the largest ones, and which of them are past the alarm size."""

    histogram: dict[int, int]
    largest: tuple[LargePerson, ...]
    alarm_size: int
    max_profiles: int

    @property
    def alarmed(self) -> tuple[LargePerson, ...]:
        return tuple(p for p in self.largest if p.alarmed)

    @property
    def persons(self) -> int:
        return sum(self.histogram.values())


async def size_report(store: BaseStore, settings: Settings, *, limit: int = LARGEST_LISTED) -> SizeReport:
    alarm = settings.alarm_profiles
    largest = []
    for person_id, size in await store.largest_persons(limit):
        person = await store.get_person(person_id)
        name = person.display_name if person else ""
        largest.append(LargePerson(person_id=person_id, display_name=name, profiles=size, alarmed=size > alarm))
    return SizeReport(
        histogram=dict(sorted((await store.person_sizes()).items())),
        largest=tuple(largest),
        alarm_size=alarm,
        max_profiles=settings.resolver.max_profiles,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    """A profile linked to a shared identifier, with the person it belongs to now."""

    profile_key: str
    channel: str
    name: str
    person_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedIdentifier:
    """A phone or e-mail that joins people with different names: it only produces suggestions."""

    key: str
    reason: str
    since: datetime
    holders: tuple[Holder, ...]

    @property
    def persons(self) -> int:
        return len({h.person_id for h in self.holders})


async def shared_report(store: BaseStore, *, limit: int = SHARED_LISTED) -> list[SharedIdentifier]:
    shared = (await store.list_shared())[:limit]
    linked = await store.profiles_by_identifier([key for key, _, _ in shared])
    profiles = await store.get_profiles(sorted({k for keys in linked.values() for k in keys}))
    out = []
    for key, reason, since in shared:
        holders = []
        for profile_key in linked.get(key, []):
            profile = profiles.get(profile_key)
            if profile is None:
                continue
            root = await store.root_of(profile.person_id)
            holders.append(
                Holder(profile_key=profile_key, channel=profile.channel.value, name=profile.name, person_id=root)
            )
        out.append(SharedIdentifier(key=key, reason=reason, since=since, holders=tuple(holders)))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericExample:
    kind: str
    value: str
    blocked: bool


# Placeholders people type when a form insists; the page checks each against the live rule.
_GENERIC_PHONES = ("0000000", "+7 111 111-11-11", "+7 123 456-78-90", "89999999999")
_GENERIC_EMAILS = ("test@test.com", "info@example.com", "noreply@gmail.com", "qwerty@mail.ru", "123@yandex.ru")
_GENERIC_TEXTS = ("Здравствуйте", "Актуально?", "Hello", "Ещё продаёте?", "?")

GENERIC_RULE = (
    "Generic values are never stored as identifiers, so they cannot link anybody and there is no list of them "
    "in the store: a phone of one repeated digit or a plain run (1234567, 9876543), an invalid number, an e-mail "
    "whose name is a placeholder (test, info, admin, noreply, qwerty, 123...) or whose domain is a test domain "
    "(example.com, test.com, test.ru...). Texts with fewer than two informative words (greetings, 'still "
    "available?') are never compared."
)


def generic_examples(region: str = "RU") -> list[GenericExample]:
    """The rule's examples, each checked against the normalizers the resolver uses."""
    out = [GenericExample(kind="phone", value=v, blocked=normalize_phone(v, region) is None) for v in _GENERIC_PHONES]
    out += [GenericExample(kind="email", value=v, blocked=normalize_email(v) is None) for v in _GENERIC_EMAILS]
    out += [GenericExample(kind="text", value=v, blocked=is_generic_text(v)) for v in _GENERIC_TEXTS]
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Side:
    """One end of an explanation: the profiles a profile key or person id stands for."""

    ref: str
    person_id: str  # the current person (root)
    profile_keys: tuple[str, ...]


async def side_of(store: BaseStore, ref: str) -> Side:
    """A profile key ("telegram:42") stands for itself; a person id for the profiles that joined it first
    (so explaining a merge's two ids explains that merge, even after more merges)."""
    ref = ref.strip()
    profile = (await store.get_profiles([ref])).get(ref)
    if profile is not None:
        return Side(ref=ref, person_id=await store.root_of(profile.person_id), profile_keys=(ref,))
    if await store.get_person(ref) is None:
        raise NotFound("profile or person", ref)
    keys = await store.profile_keys_of([ref])
    if not keys:  # a person whose profiles all joined ones merged into it later: use its whole subtree
        keys = await store.profile_keys_of(await store.members_of(ref))
    return Side(ref=ref, person_id=await store.root_of(ref), profile_keys=tuple(keys))


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """The path of evidence between two profiles (or the closest profiles of two persons)."""

    a: Side
    b: Side
    a_key: str
    b_key: str
    steps: tuple[Step, ...]
    graph: nx.Graph[str]

    @property
    def connected(self) -> bool:
        return bool(self.steps)


async def explain(store: BaseStore, a_ref: str, b_ref: str) -> Explanation:
    a, b = await side_of(store, a_ref), await side_of(store, b_ref)
    if set(a.profile_keys) & set(b.profile_keys):
        raise MergeRefused(f"{a_ref} and {b_ref} name the same profile: nothing to explain")
    # Both current persons' profiles: the path may run through any profile either person holds.
    keys = {p.key for p in await store.profiles_of(a.person_id)} | {p.key for p in await store.profiles_of(b.person_id)}
    graph = await profiles_graph(store, sorted(keys | set(a.profile_keys) | set(b.profile_keys)))
    best: tuple[int, str, str] | None = None
    for target in b.profile_keys:
        try:
            # Fewest hops picks the pair; explain_path then picks the strongest route between them.
            hops, path = nx.multi_source_dijkstra(graph, set(a.profile_keys), target=target)
        except nx.NetworkXNoPath:
            continue
        source = str(path[0]) if isinstance(path, list) else ""
        if isinstance(hops, int | float) and source and (best is None or hops < best[0]):
            best = (int(hops), source, target)
    if best is None:
        return Explanation(a=a, b=b, a_key=a.profile_keys[0], b_key=b.profile_keys[0], steps=(), graph=graph)
    steps = explain_path(graph, best[1], best[2])
    return Explanation(a=a, b=b, a_key=best[1], b_key=best[2], steps=tuple(steps), graph=graph)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewBacklog:
    pending: int
    oldest: datetime | None
    newest: tuple[Suggestion, ...]


async def review_backlog(store: BaseStore, *, limit: int = REVIEW_LISTED) -> ReviewBacklog:
    pending = await store.suggestions()
    oldest = min((s.created_at for s in pending), default=None)
    newest = sorted(pending, key=lambda s: s.created_at, reverse=True)[:limit]
    return ReviewBacklog(pending=len(pending), oldest=oldest, newest=tuple(newest))


async def recent_merges(store: BaseStore, *, limit: int = MERGES_LISTED) -> list[MergeRecord]:
    return await store.merges(limit=limit)
