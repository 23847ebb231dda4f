"""Deciding who a message belongs to: a pure function of the message, its neighbourhood and the policy.

`decide` does no I/O: the same inputs always give the same `Decision`, so every identity rule is a
plain function call in the tests. It works in three passes over the neighbourhood, each seeing the
person as the passes before it left it (Splink's stages, online):

1. exact identifiers: a shared phone or e-mail is the strongest evidence there is, guarded against
   offices and families by name clashes (such an identifier becomes *shared*);
2. evidence links (name + near-identical text + time) from the recent-message blocks;
3. the same full name days apart on another channel: a suggestion, never a merge.

A decision can never be impossible: persons marked "not the same person" are never put in one
group. When the evidence points to persons that must stay apart, the message joins the side with
the strongest evidence and a suggestion explains the conflict to a reviewer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from core.config import ResolverSettings
from core.names import NameMatch, is_business_name
from core.phones import mask_email, mask_phone
from core.records import Evidence, Profile
from core.values import Channel, IdKind, Message, Provenance
from resolver.blocking import full_name_keys
from resolver.comparison import PairLevels, TextLevel, compare_name_sets, names_disagree
from resolver.neighbourhood import Neighbourhood, PersonView
from resolver.scoring import (
    CORROBORATION_FACTOR,
    IDENTIFIER_WEIGHTS,
    NAME_MISMATCH_WEIGHT,
    NAME_WEIGHTS,
    SAME_CHANNEL_WEIGHT,
    TEXT_WEIGHTS,
    TIME_WEIGHTS,
    PairScore,
    total,
)

# Name levels strong enough to merge through an identifier already known to be shared.
STRONG_NAMES = frozenset({NameMatch.EXACT, NameMatch.EQUIVALENT})
# Name levels that agree (a released Telegram username taken by someone else would not).
AGREEING_NAMES = frozenset(
    {NameMatch.EXACT, NameMatch.EQUIVALENT, NameMatch.INITIAL, NameMatch.FUZZY, NameMatch.GIVEN_ONLY}
)
# Score of an exact-identifier suggestion (shown in the review queue; above any evidence score).
IDENTIFIER_SUGGESTION_SCORE = 20.0

CHANNEL_TITLES = {
    Channel.TELEGRAM: "Telegram",
    Channel.WHATSAPP: "WhatsApp",
    Channel.AVITO: "Avito",
    Channel.WEBFORM: "the web form",
    Channel.MAX: "MAX",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A person the message should join (or be reviewed against), with the evidence."""

    root: str
    evidence: tuple[Evidence, ...]
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """Evidence between the message's profile and another profile, kept for later corroboration."""

    other: str
    score: float
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What to do with one message; `resolver.service.Resolver` applies it through the `Merger`."""

    merges: tuple[Link, ...] = ()  # persons the message's person absorbs (or joins), in order
    suggestions: tuple[Link, ...] = ()  # persons a reviewer should compare with the message's person
    shared: tuple[tuple[str, str], ...] = ()  # identifiers found to join several people, with the reason
    edges: tuple[Edge, ...] = ()


@dataclass(slots=True)
class _Group:
    """The message's person as the passes grow it."""

    views: list[PersonView]
    names: list[str]
    size: int  # profiles, the message's own included
    merges: dict[str, Link] = field(default_factory=dict)
    suggestions: dict[str, Link] = field(default_factory=dict)

    @property
    def roots(self) -> set[str]:
        return {v.root for v in self.views}

    def keeps_apart(self, view: PersonView) -> PersonView | None:
        """The member of the group marked "not the same person" as `view`, if any."""
        return next((v for v in self.views if v.keeps_apart(view)), None)


def decide(message: Message, hood: Neighbourhood, settings: ResolverSettings) -> Decision:
    own = [hood.person] if hood.person else []
    group = _Group(
        views=list(own),
        names=[n for n in (message.name, *(hood.person.names if hood.person else [])) if n],
        size=(len(hood.person.profiles) if hood.person else 0) + (0 if hood.profile else 1),
    )
    shared: dict[str, str] = {}
    merges, suggestions = _identifier_links(message, hood, group, settings, shared)
    _settle(group, hood, merges, suggestions, settings)
    edges: list[Edge] = []
    merges, suggestions = _evidence_links(message, hood, group, settings, edges)
    _settle(group, hood, merges, suggestions, settings)
    _settle(group, hood, {}, _namesakes(message, hood, group, settings), settings)
    return Decision(
        merges=tuple(group.merges.values()),
        suggestions=tuple(s for r, s in group.suggestions.items() if r not in group.roots),
        shared=tuple(shared.items()),
        edges=tuple(edges),
    )


# -- pass 1: exact identifiers -------------------------------------------------------------------


def _identifier_links(
    message: Message, hood: Neighbourhood, group: _Group, settings: ResolverSettings, shared: dict[str, str]
) -> tuple[dict[str, Link], dict[str, Link]]:
    provenance = {i.key: i.provenance for i in message.identifiers}
    merges: dict[str, list[Evidence]] = {}
    suggestions: dict[str, list[Evidence]] = {}
    names = group.names
    for ident, keys in hood.by_identifier.items():
        kind = ident.partition(":")[0]
        ours_verified = provenance.get(ident) is Provenance.CHANNEL
        verified = hood.channel_verified.get(ident, frozenset())
        for root in sorted({hood.root_of[k] for k in keys if k in hood.root_of} - group.roots):
            view = hood.persons[root]
            their_names = view.names
            theirs_verified = any(k in verified for k in keys if hood.root_of.get(k) == root)
            typed = not ours_verified or not theirs_verified
            level = compare_name_sets(names, their_names)
            evidence = [_identifier_evidence(ident, ours_verified and theirs_verified)]
            if level is not NameMatch.UNKNOWN:
                evidence.append(name_evidence(level, names, their_names))
            if ident in shared or ident in hood.shared:
                target = merges if level in STRONG_NAMES else suggestions
            elif kind == IdKind.TELEGRAM_USERNAME:
                # The user id is the account; a username is released and taken again by someone else,
                # so on another account it is evidence that needs agreeing names.
                target = merges if level in AGREEING_NAMES else suggestions
            elif level is NameMatch.DIFFERENT:
                shared[ident] = "joins people with different names"  # an office line, a family phone
                target = suggestions
            elif any(is_business_name(n) for n in (*names, *their_names)):
                # A company's account behind the number: colleagues share it, so it links nobody.
                shared[ident] = "used by a business account"
                target = suggestions
            elif provenance.get(ident) is Provenance.MENTIONED and level is NameMatch.UNKNOWN:
                target = suggestions  # a number inside a text may be anyone's
            elif level is NameMatch.UNKNOWN and typed and names_disagree(names, their_names):
                # Readable names that share nothing behind a typed number: too uncertain to merge,
                # too uncertain to call shared. (Two channels that verified the number are one phone.)
                target = suggestions
            elif level is NameMatch.UNKNOWN and typed and not (ours_verified or theirs_verified):
                # Typed on both sides with no name to check: a family's or an office's number, maybe.
                # It links on its own only inside the burst of one inquiry.
                window = settings.time_window_s
                recent = any(abs((message.received_at - p.last_seen).total_seconds()) <= window for p in view.profiles)
                target = merges if recent else suggestions
            else:
                # Agreeing names, or a typed number equal to one a channel verified: the returning
                # customer of every CRM's duplicate control, at any distance in time.
                target = merges
            target.setdefault(root, []).extend(evidence)
    for root in merges:
        suggestions.pop(root, None)
    return (
        {r: _link(r, e) for r, e in merges.items()},
        {r: replace(_link(r, e), score=IDENTIFIER_SUGGESTION_SCORE) for r, e in suggestions.items()},
    )


def _identifier_evidence(ident: str, verified: bool) -> Evidence:
    kind = ident.partition(":")[0]
    weight = IDENTIFIER_WEIGHTS["verified" if verified else "typed"]
    return Evidence(rule=kind, detail=describe_identifier(ident), score=weight, values={"identifier": ident})


def describe_identifier(ident_key: str) -> str:
    kind, _, value = ident_key.partition(":")
    if kind == IdKind.PHONE:
        return f"same phone {mask_phone(value)}"
    if kind == IdKind.EMAIL:
        return f"same e-mail {mask_email(value)}"
    if kind == IdKind.TELEGRAM_USERNAME:
        return f"same Telegram username @{value}"
    return f"same {kind.replace('_', ' ')} {value}"


# -- pass 2: evidence links ----------------------------------------------------------------------


def _evidence_links(
    message: Message, hood: Neighbourhood, group: _Group, settings: ResolverSettings, edges: list[Edge]
) -> tuple[dict[str, Link], dict[str, Link]]:
    roots = group.roots
    members = {m for v in group.views for m in v.members}
    best: dict[str, PairScore] = {}
    same_text_roots: set[str] = set()
    for pair in hood.pairs:
        if pair.root in roots or pair.root in members:
            continue
        score = score_pair(message, pair.other, pair.levels)
        if pair.levels.same_text:
            same_text_roots.add(pair.root)
        if score.score >= settings.review_score:
            edges.append(Edge(other=pair.other.key, score=score.score, evidence=score.evidence))
        if pair.root not in best or score.score > best[pair.root].score:
            best[pair.root] = score
    ours = {p.key for v in group.views for p in v.profiles} - {message.profile_key}
    scored: dict[str, PairScore] = {}
    doubtful: set[str] = set()
    for root, top in best.items():
        view = hood.persons.get(root)
        if top.score < settings.review_score or view is None:
            continue
        # A person is compared as a whole: one clashing name among its profiles vetoes the link, and
        # readable names that share nothing keep it to a suggestion, so a profile with no name never
        # bridges "Филарет" and "Кузьма Терентьев" through a question both asked.
        if compare_name_sets(group.names, view.names) is NameMatch.DIFFERENT:
            continue
        if names_disagree(group.names, view.names):
            doubtful.add(root)
        scored[root] = _corroborate(message, top, ours, {p.key for p in view.profiles}, hood, settings)
    confident = [r for r, p in scored.items() if p.score >= settings.merge_score and r not in doubtful]
    merges: dict[str, Link] = {}
    if len(confident) == 1:
        root = confident[0]
        chosen = scored[root]
        # Without names to agree, the text alone identifies only if nobody else sent it lately.
        if chosen.named or not (same_text_roots - {root}):
            merges[root] = Link(root=root, evidence=chosen.evidence, score=chosen.score)
    # Two confident candidates that are not one person, or doubtful names: a human decides.
    suggestions = {r: Link(root=r, evidence=p.evidence, score=p.score) for r, p in scored.items() if r not in merges}
    return merges, suggestions


def _corroborate(
    message: Message,
    pair: PairScore,
    ours: set[str],
    theirs: set[str],
    hood: Neighbourhood,
    settings: ResolverSettings,
) -> PairScore:
    """Add the strongest earlier link between another of our profiles and the candidate: the
    impatient customer's second channel matching the same person again is new evidence."""
    if not pair.exact_text or not ours:
        # Only the same question, asked again elsewhere, corroborates; a similar one does not.
        return pair
    earlier = [
        score
        for a, b, score in hood.edges
        if (a in ours and b in theirs) or (b in ours and a in theirs)
        if message.profile_key not in (a, b)
    ]
    if not earlier or max(earlier) < settings.review_score:
        return pair
    bonus = CORROBORATION_FACTOR * max(earlier)
    note = Evidence(rule="corroboration", detail="the same person matched from another channel too", score=bonus)
    return replace(pair, score=pair.score + bonus, evidence=(*pair.evidence, note))


def score_pair(message: Message, other: Profile, levels: PairLevels) -> PairScore:
    """The weight of evidence that a recent message of `other` and `message` come from one person."""
    same_text = levels.text in (TextLevel.SAME, TextLevel.NEAR)
    parts = [
        name_evidence(levels.name, [message.name], [other.name]),
        Evidence(
            rule="text",
            detail=(
                f"same question on {channel_title(message.channel)} and {channel_title(other.channel)}"
                f" {round(levels.gap_s / 60)} min apart"
                if same_text
                else ""
            ),
            score=TEXT_WEIGHTS[levels.text],
            values={"level": levels.text.value, "similarity": f"{levels.similarity:.0f}"},
        ),
        # Closeness in time says something only about the same question: many people write within minutes.
        Evidence(
            rule="time",
            detail="",
            score=TIME_WEIGHTS[levels.time] if same_text else 0.0,
            values={"seconds": f"{levels.gap_s:.0f}"},
        ),
    ]
    if levels.name_mismatch:
        parts.append(Evidence(rule="name", detail="", score=NAME_MISMATCH_WEIGHT, values={"level": "mismatch"}))
    if levels.same_channel:
        parts.append(Evidence(rule="channel", detail="", score=SAME_CHANNEL_WEIGHT))
    return total(*parts, named=levels.named, same_text=same_text, exact_text=levels.exact_text)


def channel_title(channel: Channel) -> str:
    return CHANNEL_TITLES.get(channel, channel.value)


def name_evidence(level: NameMatch, ours: Sequence[str], theirs: Sequence[str]) -> Evidence:
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


# -- pass 3: namesakes ---------------------------------------------------------------------------


def _namesakes(message: Message, hood: Neighbourhood, group: _Group, settings: ResolverSettings) -> dict[str, Link]:
    """The same full name on another channel days apart: worth a look, never a merge."""
    members = {m for v in group.views for m in v.members}
    out: dict[str, Link] = {}
    for hit, other, root in hood.namesakes:
        if other.channel == message.channel or root in out or root in members or root not in hood.persons:
            continue
        level = compare_name_sets([message.name], [other.name])
        if level in STRONG_NAMES or full_name_keys(message.name) & full_name_keys(other.name):
            hours = (message.received_at - hit.at).total_seconds() / 3600
            apart = f"{hours / 24:.0f} days" if hours >= 36 else f"{hours:.0f} hours"
            where = f"{channel_title(message.channel)} and {channel_title(other.channel)}"
            detail = f"same full name {message.name} on {where} {apart} apart"
            evidence = (Evidence(rule="name", detail=detail, score=NAME_WEIGHTS[level]),)
            out[root] = Link(root=root, evidence=evidence, score=settings.review_score)
    return out


# -- settling a pass -----------------------------------------------------------------------------


def _settle(
    group: _Group,
    hood: Neighbourhood,
    merges: Mapping[str, Link],
    suggestions: Mapping[str, Link],
    settings: ResolverSettings,
) -> None:
    """Grow the group by a pass's merges, keeping every "not the same person" mark and the size cap."""
    own = hood.person
    for root, link in suggestions.items():
        view = hood.persons.get(root)
        # "Not the same person" as the message's own person wins over any evidence: not even a suggestion.
        if view is not None and not (own and own.keeps_apart(view)) and root not in group.suggestions:
            group.suggestions[root] = link
    accepted: list[Link] = []
    for link in sorted(merges.values(), key=lambda m: (-m.score, m.root)):
        view = hood.persons[link.root]
        if own and own.keeps_apart(view):
            continue
        blocker = group.keeps_apart(view) or next(
            (hood.persons[a.root] for a in accepted if hood.persons[a.root].keeps_apart(view)), None
        )
        if blocker is not None:
            # The message's evidence points at two persons a reviewer kept apart: it joins the side
            # with the stronger evidence, and the other side waits for review with the reason.
            note = Evidence(
                rule="conflict",
                detail=f"also matches a person marked not the same as {blocker.root}",
                score=0.0,
            )
            group.suggestions.setdefault(link.root, replace(link, evidence=(*link.evidence, note)))
            continue
        accepted.append(link)
    size = group.size + sum(len(hood.persons[a.root].profiles) for a in accepted)
    if accepted and size > settings.max_profiles:
        # Large persons grow only through review: a runaway merge chain is a precision bug.
        for link in accepted:
            group.suggestions.setdefault(link.root, link)
        return
    for link in accepted:
        view = hood.persons[link.root]
        group.views.append(view)
        group.names.extend(view.names)
        group.size += len(view.profiles)
        group.merges[link.root] = link
        group.suggestions.pop(link.root, None)


def _link(root: str, evidence: Iterable[Evidence]) -> Link:
    parts = tuple(evidence)
    return Link(root=root, evidence=parts, score=sum(e.score for e in parts))
