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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from core.config import ResolverSettings
from core.names import NameMatch, is_business_name
from core.phones import mask_email, mask_phone
from core.records import Evidence, Profile
from core.values import Channel, IdKind, Message, Provenance
from resolver.blocking import full_name_keys
from resolver.comparison import (
    PairLevels,
    TextLevel,
    compare_name_sets,
    compare_text,
    names_disagree,
    text_time_level,
)
from resolver.model import Model, Score, probability
from resolver.neighbourhood import Neighbourhood, PersonView
from resolver.scoring import (
    MISMATCH,
    NULL,
    WEIGHT_DIGITS,
    PairScore,
    evidence_of,
    frequencies,
    pair_levels,
    weight_of,
)

# Name levels strong enough to merge through an identifier already known to be shared.
STRONG_NAMES = frozenset({NameMatch.EXACT, NameMatch.EQUIVALENT})
# Name levels that agree (a released Telegram username taken by someone else would not).
AGREEING_NAMES = frozenset(
    {NameMatch.EXACT, NameMatch.EQUIVALENT, NameMatch.INITIAL, NameMatch.FUZZY, NameMatch.GIVEN_ONLY}
)
# The model's comparison for each kind of identifier.
ID_COMPARISONS = {IdKind.PHONE: "phone", IdKind.EMAIL: "email", IdKind.TELEGRAM_USERNAME: "username"}
# Share of an earlier link's evidence (beyond the prior) from another of our profiles to the same
# candidate that is added: the second channel matching the same person again is new evidence, but
# not independent of the first (the customer asked the same question).
CORROBORATION_FACTOR = 0.5

CHANNEL_TITLES = {
    Channel.TELEGRAM: "Telegram",
    Channel.WHATSAPP: "WhatsApp",
    Channel.AVITO: "Avito",
    Channel.WEBFORM: "the web form",
    Channel.MAX: "MAX",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A person the message should join (or be reviewed against), with the evidence.

    ``score`` is the match weight in bits: the evidence's scores (the prior among them) summed.
    """

    root: str
    evidence: tuple[Evidence, ...]
    score: float

    @property
    def probability(self) -> float:
        return probability(self.score)


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """Evidence between the message's profile and another profile, kept for later corroboration."""

    other: str
    score: float  # match weight in bits
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


def decide(message: Message, hood: Neighbourhood, settings: ResolverSettings, model: Model) -> Decision:
    own = [hood.person] if hood.person else []
    group = _Group(
        views=list(own),
        names=[n for n in (message.name, *(hood.person.names if hood.person else [])) if n],
        size=(len(hood.person.profiles) if hood.person else 0) + (0 if hood.profile else 1),
    )
    shared: dict[str, str] = {}
    merges, suggestions = _identifier_links(message, hood, group, settings, model, shared)
    _settle(group, hood, merges, suggestions, settings)
    edges: list[Edge] = []
    merges, suggestions = _evidence_links(message, hood, group, settings, model, edges)
    _settle(group, hood, merges, suggestions, settings)
    _settle(group, hood, {}, _namesakes(message, hood, group, settings, model), settings)
    return Decision(
        merges=tuple(group.merges.values()),
        suggestions=tuple(s for r, s in group.suggestions.items() if r not in group.roots),
        shared=tuple(shared.items()),
        edges=tuple(edges),
    )


# -- pass 1: exact identifiers -------------------------------------------------------------------


@dataclass(slots=True)
class _IdentifierMatch:
    """What the identifiers shared with one person say, before it is weighed."""

    kinds: dict[str, str] = field(default_factory=dict)  # model comparison -> describe_identifier words
    values: dict[str, str] = field(default_factory=dict)  # model comparison -> the identifier key
    merge: bool = False
    rule: str = ""  # why the rules merge (or only suggest) whatever the weight


def _identifier_links(
    message: Message,
    hood: Neighbourhood,
    group: _Group,
    settings: ResolverSettings,
    model: Model,
    shared: dict[str, str],
) -> tuple[dict[str, Link], dict[str, Link]]:
    """Exact identifiers decide by rule, because the rules guard what no weight sees (an office line, a
    business account, a number inside a text); the model weighs the link for ordering and review."""
    provenance = {i.key: i.provenance for i in message.identifiers}
    found: dict[str, _IdentifierMatch] = {}
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
            rule = ""
            if ident in shared or ident in hood.shared:
                merge = level in STRONG_NAMES
                rule = "a shared identifier with the same full name" if merge else "a shared identifier"
            elif kind == IdKind.TELEGRAM_USERNAME:
                # The user id is the account; a username is released and taken again by someone else,
                # so on another account it is evidence that needs agreeing names.
                merge = level in AGREEING_NAMES
                rule = "the same Telegram username with names that agree" if merge else ""
            elif level is NameMatch.DIFFERENT:
                shared[ident] = "joins people with different names"  # an office line, a family phone
                merge = False
            elif any(is_business_name(n) for n in (*names, *their_names)):
                # A company's account behind the number: colleagues share it, so it links nobody.
                shared[ident] = "used by a business account"
                merge = False
            elif provenance.get(ident) is Provenance.MENTIONED and level is NameMatch.UNKNOWN:
                merge = False  # a number inside a text may be anyone's
            elif level is NameMatch.UNKNOWN and typed and names_disagree(names, their_names, nicknames=True):
                # Readable names that share nothing behind a typed number: too uncertain to merge,
                # too uncertain to call shared. (Two channels that verified the number are one phone.)
                merge = False
            elif level is NameMatch.UNKNOWN and typed and not (ours_verified or theirs_verified):
                # Typed on both sides with no name to check: a family's or an office's number, maybe.
                # It links on its own only inside the burst of one inquiry.
                window = settings.time_window_s
                merge = any(abs((message.received_at - p.last_seen).total_seconds()) <= window for p in view.profiles)
                rule = "the same typed identifier within one inquiry's burst" if merge else ""
            elif not typed:
                merge, rule = True, "a number both channels verified"
            else:
                # Agreeing names, or a typed number equal to one a channel verified: the returning
                # customer of every CRM's duplicate control, at any distance in time.
                merge = True
                if level is NameMatch.UNKNOWN:
                    rule = "a typed identifier equal to a verified one"
                else:
                    rule = "the same identifier with names that agree"
            match = found.setdefault(root, _IdentifierMatch())
            comparison = ID_COMPARISONS.get(IdKind(kind), kind) if kind in set(IdKind) else kind
            match.kinds.setdefault(comparison, describe_identifier(ident))
            match.values.setdefault(comparison, ident)
            if merge and not match.merge:
                match.merge, match.rule = True, rule
    merges: dict[str, Link] = {}
    suggestions: dict[str, Link] = {}
    for root, match in found.items():
        link = _identifier_link(message, hood, names, root, match, settings, model)
        (merges if match.merge else suggestions)[root] = link
    return merges, suggestions


def _identifier_link(
    message: Message,
    hood: Neighbourhood,
    names: Sequence[str],
    root: str,
    match: _IdentifierMatch,
    settings: ResolverSettings,
    model: Model,
) -> Link:
    view = hood.persons[root]
    their_names = view.names
    level = compare_name_sets(names, their_names)
    name = (MISMATCH if names_disagree(names, their_names) else NULL) if level is NameMatch.UNKNOWN else level.value
    # No texts are compared here: an identifier links at any distance in time.
    levels = {c: "same" for c in match.kinds if c in model.names} | {"name": name}
    ours = next((n for n in names if n), "")
    theirs = next((n for n in their_names if n), "")
    tf = frequencies(model, levels, names=(ours, theirs), text="")
    score = model.score(levels, tf)
    details = dict(match.kinds)
    if level is not NameMatch.UNKNOWN:
        details["name"] = name_words(level, names, their_names)
    evidence = evidence_of(score, details, {c: {"identifier": v} for c, v in match.values.items()})
    # An identifier kind the model does not compare still shows, weighing nothing.
    evidence += tuple(Evidence(rule=k, detail=d, score=0.0) for k, d in match.kinds.items() if k not in model.names)
    if match.merge and score.probability < settings.merge_probability and match.rule:
        evidence += (Evidence(rule="rule", detail=f"linked by rule: {match.rule}", score=0.0),)
    return Link(root=root, evidence=evidence, score=weight_of(evidence))


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
    message: Message,
    hood: Neighbourhood,
    group: _Group,
    settings: ResolverSettings,
    model: Model,
    edges: list[Edge],
) -> tuple[dict[str, Link], dict[str, Link]]:
    roots = group.roots
    members = {m for v in group.views for m in v.members}
    best: dict[str, PairScore] = {}
    same_text_roots: set[str] = set()
    for pair in hood.pairs:
        if pair.root in roots or pair.root in members:
            continue
        if pair.levels.same_text:
            same_text_roots.add(pair.root)
        if pair.probability < settings.review_probability:
            continue  # never a link, an edge or a suggestion: no evidence to write down
        score = score_pair(model, message, pair.other, pair.levels)
        edges.append(Edge(other=pair.other.key, score=score.weight, evidence=score.evidence))
        if pair.root not in best or score.weight > best[pair.root].weight:
            best[pair.root] = score
    ours = {p.key for v in group.views for p in v.profiles} - {message.profile_key}
    scored: dict[str, PairScore] = {}
    doubtful: set[str] = set()
    for root, top in best.items():
        view = hood.persons.get(root)
        if top.probability < settings.review_probability or view is None:
            continue
        # A person is compared as a whole: one clashing name among its profiles vetoes the link, and
        # readable names that share nothing keep it to a suggestion, so a profile with no name never
        # bridges "Филарет" and "Кузьма Терентьев" through a question both asked.
        if compare_name_sets(group.names, view.names) is NameMatch.DIFFERENT:
            continue
        if names_disagree(group.names, view.names):
            doubtful.add(root)
        scored[root] = _corroborate(message, top, ours, {p.key for p in view.profiles}, hood, settings, model)
    confident = [r for r, p in scored.items() if p.probability >= settings.merge_probability and r not in doubtful]
    merges: dict[str, Link] = {}
    # Several confident candidates are one person when no names among them and the message's clash or
    # share nothing: the impatient customer's third channel matching the first two before they joined.
    ranked = sorted(confident, key=lambda r: (-scored[r].weight, r))
    together = _agreeing(group.names, [hood.persons[r] for r in ranked])
    for root in together:
        chosen = scored[root]
        # Without names to agree, the text alone identifies only if nobody else sent it lately.
        if chosen.named or not (same_text_roots - set(together)):
            merges[root] = Link(root=root, evidence=chosen.evidence, score=chosen.weight)
    # Confident candidates whose names do not agree, or doubtful names: a human decides.
    suggestions = {r: Link(root=r, evidence=p.evidence, score=p.weight) for r, p in scored.items() if r not in merges}
    return merges, suggestions


def _agreeing(names: Sequence[str], views: Sequence[PersonView]) -> list[str]:
    """The roots of ``views`` when each one's names agree with ``names`` and the ones before it (no
    clash, none that share nothing); none of them otherwise."""
    seen = list(names)
    for view in views:
        if compare_name_sets(seen, view.names) is NameMatch.DIFFERENT or names_disagree(seen, view.names):
            return []
        seen.extend(view.names)
    return [v.root for v in views]


def _corroborate(
    message: Message,
    pair: PairScore,
    ours: set[str],
    theirs: set[str],
    hood: Neighbourhood,
    settings: ResolverSettings,
    model: Model,
) -> PairScore:
    """Add part of the strongest earlier link between another of our profiles and the candidate: the
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
    if not earlier or probability(max(earlier)) < settings.review_probability:
        return pair
    bonus = round(CORROBORATION_FACTOR * max(0.0, max(earlier) - model.prior_weight), WEIGHT_DIGITS)
    note = Evidence(rule="corroboration", detail="the same person matched from another channel too", score=bonus)
    return replace(pair, weight=pair.weight + bonus, evidence=(*pair.evidence, note))


def _weigh(model: Model, message: Message, other: Profile, levels: PairLevels) -> Score:
    reached = pair_levels(levels)
    return model.score(reached, frequencies(model, reached, names=(message.name, other.name), text=message.text))


def pair_probability(model: Model, message: Message, other: Profile, levels: PairLevels) -> float:
    """The match probability of a recent pair, without writing its evidence down (most pairs are
    compared only to be dismissed)."""
    reached = pair_levels(levels)
    tf_u = frequencies(model, reached, names=(message.name, other.name), text=message.text)
    return probability(model.rounded_weight(reached, tf_u, WEIGHT_DIGITS))


def score_pair(model: Model, message: Message, other: Profile, levels: PairLevels) -> PairScore:
    """The match weight of a recent message of `other` and `message` coming from one person."""
    same_text = levels.text in (TextLevel.SAME, TextLevel.NEAR)
    score = _weigh(model, message, other, levels)
    details = {
        "text": (
            f"same question on {channel_title(message.channel)} and {channel_title(other.channel)}"
            f" {round(levels.gap_s / 60)} min apart"
            if same_text
            else ""
        ),
    }
    if levels.name is not NameMatch.UNKNOWN:
        details["name"] = name_words(levels.name, [message.name], [other.name])
    values = {"text": {"similarity": f"{levels.similarity:.0f}", "seconds": f"{levels.gap_s:.0f}"}}
    evidence = evidence_of(score, details, values)
    return PairScore(
        weight=weight_of(evidence),
        evidence=evidence,
        named=levels.named,
        same_text=same_text,
        exact_text=levels.exact_text,
    )


def channel_title(channel: Channel) -> str:
    return CHANNEL_TITLES.get(channel, channel.value)


def name_words(level: NameMatch, ours: Sequence[str], theirs: Sequence[str]) -> str:
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
    return words[level]


# -- pass 3: namesakes ---------------------------------------------------------------------------


def _namesakes(
    message: Message, hood: Neighbourhood, group: _Group, settings: ResolverSettings, model: Model
) -> dict[str, Link]:
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
            text, _ = compare_text(message.text, hit.text)
            reached = {
                "name": NameMatch.EXACT.value if level is NameMatch.UNKNOWN else level.value,
                "text": text_time_level(text, (message.received_at - hit.at).total_seconds()),
                "channel": "different",
            }
            tf = frequencies(model, reached, names=(message.name, other.name), text=message.text)
            detail = f"same full name {message.name} on {where} {apart} apart"
            evidence = evidence_of(model.score(reached, tf), {"name": detail}, {})
            out[root] = Link(root=root, evidence=evidence, score=weight_of(evidence))
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
