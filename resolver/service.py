"""The resolver service: one message in, its person out (created, joined or merged).

Order of work per message, and why:
1. exact identifiers first: a shared phone or e-mail is the strongest evidence there is, guarded
   against offices and families by name clashes (such an identifier becomes *shared*);
2. evidence links next (name + near-identical text + time) from the recent-message blocks;
3. only then the profile is written and the message indexed, so a message never finds itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from core.config import ResolverSettings
from core.names import NameMatch, is_business_name, parse_name
from core.phones import mask_email, mask_phone
from core.records import Evidence, MergeKind, MergeRecord, Person, Profile, RecentHit, Suggestion
from core.values import Channel, IdKind, Message, Provenance
from resolver.blocking import FULL_NAME_SPAN, Candidates, find_candidates, full_name_keys, message_blocks
from resolver.comparison import TextLevel, TimeLevel, compare_name_sets, compare_text, compare_time, names_disagree
from resolver.merge import Merger, new_id
from resolver.scoring import (
    CORROBORATION_FACTOR,
    NAME_MISMATCH_WEIGHT,
    NAME_WEIGHTS,
    SAME_CHANNEL_WEIGHT,
    TEXT_WEIGHTS,
    TIME_WEIGHTS,
    PairScore,
    total,
)
from store.base import BaseStore

log = logging.getLogger("stitch.resolver")

# Name levels strong enough to merge through an identifier already known to be shared.
STRONG_NAMES = frozenset({NameMatch.EXACT, NameMatch.EQUIVALENT})
# Score of an exact-identifier suggestion (shown in the review queue; above any evidence score).
IDENTIFIER_SUGGESTION_SCORE = 20.0
# The blocking index of recent messages is read no further back than FULL_NAME_SPAN (or the time
# window, if longer); a day more allows for late deliveries. Older entries, copies of message texts
# included, are deleted once per PRUNE_EVERY of traffic, so the index does not grow with history.
RECENT_MARGIN = timedelta(days=1)
PRUNE_EVERY = timedelta(days=1)

CHANNEL_TITLES = {
    Channel.TELEGRAM: "Telegram",
    Channel.WHATSAPP: "WhatsApp",
    Channel.AVITO: "Avito",
    Channel.WEBFORM: "the web form",
}


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


def describe_identifier(ident_key: str) -> str:
    kind, _, value = ident_key.partition(":")
    if kind == IdKind.PHONE:
        return f"same phone {mask_phone(value)}"
    if kind == IdKind.EMAIL:
        return f"same e-mail {mask_email(value)}"
    return f"same {kind.replace('_', ' ')} {value}"


def display_name(names: Sequence[str], fallback: str) -> str:
    """The fullest personal name seen; otherwise the first non-empty one; otherwise the fallback."""
    parsed = [(parse_name(n), n) for n in names if n.strip()]
    personal = [(len(p.given) + len(p.surnames), len(raw), raw) for p, raw in parsed if p.usable]
    if personal:
        return max(personal)[2]
    return parsed[0][1] if parsed else fallback


class Resolver:
    def __init__(self, store: BaseStore, merger: Merger, settings: ResolverSettings) -> None:
        self.store = store
        self.merger = merger
        self.settings = settings
        self.window = timedelta(seconds=settings.time_window_s)
        self.recent_keep = max(self.window, FULL_NAME_SPAN) + RECENT_MARGIN
        self._pruned_at = datetime.min.replace(tzinfo=UTC)

    def lock_keys(self, message: Message) -> list[str]:
        """Keys whose holders could decide about the same person concurrently."""
        return sorted({message.profile_key, *(i.key for i in message.identifiers), *message_blocks(message)})

    async def resolve(self, message: Message) -> Resolution:
        store = self.store
        key = message.profile_key
        at = message.received_at
        existing = (await store.get_profiles([key])).get(key)
        person = await store.root_of(existing.person_id) if existing else None
        blocks = sorted(message_blocks(message))
        candidates = await find_candidates(store, message, blocks, self.window)
        names = [message.name] if message.name else []
        has_candidates = candidates.recent or any(candidates.by_identifier.values())
        if person is not None and has_candidates:
            # The person's other names matter only when there is someone to compare them with.
            names.extend(p.name for p in await store.profiles_of(person) if p.name)

        res = Resolution(person_id=person or "", profile_key=key, known_before=person is not None)
        person = await self._link_identifiers(message, person, names, candidates, res)
        person = await self._link_evidence(message, person, names, candidates, res)
        person = await self._suggest_namesakes(message, person, names, candidates, res)
        if person is None:
            person = await self._new_person(message, names, res)
        res.person_id = person

        await store.put_profile(
            Profile(
                key=key,
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
            await store.link_identifier(key, ident)
        if blocks:
            hit = RecentHit(profile_key=key, event_id=message.event_id, at=at, text=message.text[:500])
            await store.add_recent(blocks, hit)
        if res.merges and not res.new_person:
            names = [p.name for p in await store.profiles_of(person)] + [message.name]
            await store.update_person(person, display_name=display_name(names, key))
        if at - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = at
            await store.prune_recent(at - self.recent_keep)
        return res

    # -- exact identifiers -----------------------------------------------------------------------
    async def _link_identifiers(
        self, message: Message, person: str | None, names: list[str], candidates: Candidates, res: Resolution
    ) -> str | None:
        store = self.store
        ident_keys = [k for k, keys in candidates.by_identifier.items() if keys]
        if not ident_keys:
            return person
        shared = await store.shared_among(ident_keys)
        provenance = {i.key: i.provenance for i in message.identifiers}
        to_merge: dict[str, list[Evidence]] = {}
        to_suggest: dict[str, list[Evidence]] = {}
        for ident in ident_keys:
            profiles = await store.get_profiles(candidates.by_identifier[ident])
            their_links = await store.identifiers_of(list(profiles))
            typed_by = {
                k
                for k, ids in their_links.items()
                for i in ids
                if i.key == ident and i.provenance is not Provenance.CHANNEL
            }
            root_of = {k: await store.root_of(p.person_id) for k, p in profiles.items()}
            roots = set(root_of.values())
            roots.discard(person or "")
            for root in sorted(roots):
                theirs = await store.profiles_of(root)
                their_names = [p.name for p in theirs]
                typed = provenance.get(ident) is not Provenance.CHANNEL or any(root_of[k] == root for k in typed_by)
                level = compare_name_sets(names, their_names)
                evidence = [
                    Evidence(
                        rule=ident.partition(":")[0],
                        detail=describe_identifier(ident),
                        score=0.0,
                        values={"identifier": ident},
                    )
                ]
                if level is not NameMatch.UNKNOWN:
                    evidence.append(self._name_evidence(level, names, their_names))
                if ident in shared:
                    target = to_merge if level in STRONG_NAMES else to_suggest
                elif level is NameMatch.DIFFERENT:
                    # Different people behind one phone or e-mail: an office line or a family phone.
                    await store.mark_shared(ident, "joins people with different names", message.received_at)
                    shared.add(ident)
                    target = to_suggest
                elif any(is_business_name(n) for n in (*names, *their_names)):
                    # A company's account behind the number: colleagues share it, so it links nobody.
                    await store.mark_shared(ident, "used by a business account", message.received_at)
                    shared.add(ident)
                    target = to_suggest
                elif provenance.get(ident) is Provenance.MENTIONED and level is NameMatch.UNKNOWN:
                    target = to_suggest  # a number inside a text may be anyone's
                elif level is NameMatch.UNKNOWN and typed and names_disagree(names, their_names):
                    # Readable names that share nothing behind a typed number: too uncertain to merge,
                    # too uncertain to call shared. (Two channels that verified the number are one phone.)
                    target = to_suggest
                elif level is NameMatch.UNKNOWN and typed:
                    # A typed phone or e-mail with no name to check it against may be a family's or an
                    # office's: it links on its own only inside the burst of one inquiry.
                    recent = any(abs(message.received_at - p.last_seen) <= self.window for p in theirs)
                    target = to_merge if recent else to_suggest
                else:
                    target = to_merge
                target.setdefault(root, []).extend(evidence)
        for root in to_merge:
            to_suggest.pop(root, None)
        return await self._apply(message, person, to_merge, to_suggest, res, kind_score=IDENTIFIER_SUGGESTION_SCORE)

    # -- evidence links --------------------------------------------------------------------------
    async def _link_evidence(
        self, message: Message, person: str | None, names: list[str], candidates: Candidates, res: Resolution
    ) -> str | None:
        if not candidates.recent:
            return person
        store = self.store
        members = set(await store.members_of(person)) if person else set()
        best: dict[str, PairScore] = {}
        same_text_roots: set[str] = set()
        for hit, other, root in await self._others(candidates.recent, members):
            pair = self._score_pair(message, other, hit)
            if pair.same_text:
                same_text_roots.add(root)
            if pair.score >= self.settings.review_score:
                await store.add_edge(message.profile_key, other.key, pair.score, pair.evidence, message.received_at)
            if root not in best or pair.score > best[root].score:
                best[root] = pair
        # A person is compared as a whole: one clashing name among its profiles vetoes the link.
        scored: dict[str, PairScore] = {}
        ours = await store.profile_keys_of(sorted(members)) if members else []
        for root, pair in best.items():
            if pair.score < self.settings.review_score:
                continue
            theirs = await store.profiles_of(root)
            if compare_name_sets(names, [p.name for p in theirs]) is NameMatch.DIFFERENT:
                continue
            scored[root] = await self._corroborate(message, pair, ours, {p.key for p in theirs})
        confident = [r for r, p in scored.items() if p.score >= self.settings.merge_score]
        to_merge: dict[str, list[Evidence]] = {}
        to_suggest: dict[str, list[Evidence]] = {}
        if len(confident) == 1:
            root = confident[0]
            # Without names to agree, the text alone identifies only if nobody else sent it lately.
            pair = scored[root]
            if pair.named or not (same_text_roots - {root}):
                to_merge[root] = list(scored[root].evidence)
        for root, pair in scored.items():
            if root not in to_merge:
                # Two confident candidates that are not one person: a human decides.
                to_suggest[root] = list(pair.evidence)
        scores = {r: p.score for r, p in scored.items()}
        return await self._apply(message, person, to_merge, to_suggest, res, scores=scores)

    async def _others(self, hits: list[RecentHit], members: set[str]) -> list[tuple[RecentHit, Profile, str]]:
        """Each hit with its profile and that profile's person, leaving out the message's own person."""
        profiles = await self.store.get_profiles(sorted({h.profile_key for h in hits}))
        out = []
        for hit in hits:
            other = profiles.get(hit.profile_key)
            if other is None:
                continue
            root = await self.store.root_of(other.person_id)
            if root not in members:
                out.append((hit, other, root))
        return out

    async def _suggest_namesakes(
        self, message: Message, person: str | None, names: list[str], candidates: Candidates, res: Resolution
    ) -> str | None:
        """The same full name on another channel days apart: worth a look, never a merge."""
        if not candidates.namesakes:
            return person
        members = set(await self.store.members_of(person)) if person else set()
        to_suggest: dict[str, list[Evidence]] = {}
        for hit, other, root in await self._others(candidates.namesakes, members):
            if other.channel == message.channel or root in to_suggest:
                continue
            level = compare_name_sets([message.name], [other.name])
            if level in STRONG_NAMES or full_name_keys(message.name) & full_name_keys(other.name):
                hours = (message.received_at - hit.at).total_seconds() / 3600
                apart = f"{hours / 24:.0f} days" if hours >= 36 else f"{hours:.0f} hours"
                where = f"{CHANNEL_TITLES[message.channel]} and {CHANNEL_TITLES[other.channel]}"
                detail = f"same full name {message.name} on {where} {apart} apart"
                to_suggest[root] = [Evidence(rule="name", detail=detail, score=NAME_WEIGHTS[level])]
        scores = dict.fromkeys(to_suggest, self.settings.review_score)
        return await self._apply(message, person, {}, to_suggest, res, scores=scores)

    async def _corroborate(self, message: Message, pair: PairScore, ours: list[str], theirs: set[str]) -> PairScore:
        """Add the strongest earlier link between another of our profiles and the candidate.

        The impatient customer's second channel matching the same person again is new evidence.
        """
        others = [k for k in ours if k != message.profile_key]
        if not others:
            return pair
        earlier = [
            score
            for a, b, score, _ in await self.store.edges_of(others)
            if (a in theirs or b in theirs) and message.profile_key not in (a, b)
        ]
        if not pair.exact_text or not earlier or max(earlier) < self.settings.review_score:
            # Only the same question, asked again elsewhere, corroborates; a similar one does not.
            return pair
        bonus = CORROBORATION_FACTOR * max(earlier)
        note = Evidence(rule="corroboration", detail="the same person matched from another channel too", score=bonus)
        return replace(pair, score=pair.score + bonus, evidence=(*pair.evidence, note))

    def _score_pair(self, message: Message, other: Profile, hit: RecentHit) -> PairScore:
        name_level = compare_name_sets([message.name], [other.name])
        text_level, similarity = compare_text(message.text, hit.text)
        time_level, gap = compare_time(message.received_at, hit.at)
        parts = [
            self._name_evidence(name_level, [message.name], [other.name]),
            Evidence(
                rule="text",
                detail=(
                    f"same question on {CHANNEL_TITLES[message.channel]} and {CHANNEL_TITLES[other.channel]}"
                    f" {round(gap / 60)} min apart"
                    if text_level.value in ("same", "near")
                    else ""
                ),
                score=TEXT_WEIGHTS[text_level],
                values={"level": text_level.value, "similarity": f"{similarity:.0f}"},
            ),
            # Closeness in time says something only about the same question: many people write within minutes.
            Evidence(
                rule="time",
                detail="",
                score=TIME_WEIGHTS[time_level] if text_level in (TextLevel.SAME, TextLevel.NEAR) else 0.0,
                values={"seconds": f"{gap:.0f}"},
            ),
        ]
        if name_level is NameMatch.UNKNOWN and names_disagree([message.name], [other.name]):
            parts.append(Evidence(rule="name", detail="", score=NAME_MISMATCH_WEIGHT, values={"level": "mismatch"}))
        if message.channel == other.channel:
            parts.append(Evidence(rule="channel", detail="", score=SAME_CHANNEL_WEIGHT))
        return total(
            *parts,
            named=name_level not in (NameMatch.UNKNOWN, NameMatch.DIFFERENT),
            same_text=text_level in (TextLevel.SAME, TextLevel.NEAR),
            exact_text=text_level is TextLevel.SAME,
            immediate=time_level is TimeLevel.IMMEDIATE,
        )

    @staticmethod
    def _name_evidence(level: NameMatch, ours: Sequence[str], theirs: Sequence[str]) -> Evidence:
        a = next((n for n in ours if n), "")
        b = next((n for n in theirs if n), "")
        words = {
            NameMatch.EXACT: f"same name {a}",
            NameMatch.EQUIVALENT: f"name {a} ≈ {b}",
            NameMatch.INITIAL: f"name {a} ≈ {b} (initial)",
            NameMatch.FUZZY: f"name {a} ≈ {b} (spelling)",
            NameMatch.GIVEN_ONLY: f"first name {a} ≈ {b}",
            NameMatch.DIFFERENT: f"different names {a} / {b}",
            NameMatch.UNKNOWN: "",
        }
        return Evidence(rule="name", detail=words[level], score=NAME_WEIGHTS[level], values={"level": level.value})

    # -- decisions -------------------------------------------------------------------------------
    async def _apply(
        self,
        message: Message,
        person: str | None,
        to_merge: dict[str, list[Evidence]],
        to_suggest: dict[str, list[Evidence]],
        res: Resolution,
        *,
        kind_score: float = 0.0,
        scores: dict[str, float] | None = None,
    ) -> str | None:
        store = self.store
        at = message.received_at
        if person is not None:
            # "Not the same person" wins over any evidence: no merge, not even a suggestion.
            members = await store.members_of(person)
            for root in {*to_merge, *to_suggest}:
                if await self.merger.cannot_link(members, await store.members_of(root)):
                    to_merge.pop(root, None)
                    to_suggest.pop(root, None)
        group = sorted({*to_merge, *([person] if person else [])})
        if len(group) > 1 or (person is None and group):
            size = len(await store.profile_keys_of([m for r in group for m in await store.members_of(r)]))
            unsaved = 0 if (await store.get_profiles([message.profile_key])) else 1
            if size + unsaved > self.settings.max_profiles:
                # Large persons grow only through review: a runaway merge chain is a precision bug.
                for root in to_merge:
                    to_suggest[root] = to_merge[root]
                to_merge = {}
                group = [person] if person else []
        fresh = None
        if to_merge and person is None:
            # A new profile joins through a merge of its own new person, so the link is audited,
            # explained and can be split like any other.
            person = fresh = await self._new_person(message, [message.name], res)
            group = sorted({*group, fresh})
        if to_merge:
            survivor = await self._oldest(group)
            for root in group:
                if root == survivor:
                    continue
                evidence = to_merge.get(root) or to_merge.get(survivor) or []
                record = await self.merger.perform(
                    survivor, root, kind=MergeKind.AUTO, evidence=evidence, actor="resolver", at=at
                )
                res.merges.append(record)
            res.known_before = True
            res.new_person = res.new_person and survivor == fresh
            person = survivor
        if person is None and to_suggest:
            # The message's person does not exist yet: create it so the suggestion can name it.
            person = await self._new_person(message, [message.name], res)
        for root, evidence in to_suggest.items():
            if person is None or root == person:
                continue
            score = (scores or {}).get(root, kind_score)
            suggestion = Suggestion(
                suggestion_id=new_id("g"), a=person, b=root, score=score, evidence=tuple(evidence), created_at=at
            )
            if await store.add_suggestion(suggestion):
                res.suggestions.append(suggestion)
        return person

    async def _new_person(self, message: Message, names: Sequence[str], res: Resolution) -> str:
        pid = new_id("p")
        name = display_name(names, message.handle or message.profile_key)
        await self.store.add_person(Person(person_id=pid, created_at=message.received_at, display_name=name))
        res.new_person = True
        res.own_person = pid
        return pid

    async def _oldest(self, roots: Sequence[str]) -> str:
        found = [await self.store.get_person(r) for r in roots]
        return min((p for p in found if p), key=lambda p: (p.created_at, p.person_id)).person_id
