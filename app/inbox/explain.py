"""Why profiles are one person, in a shop manager's words: one line per link, strongest first.

A link is a merge (or a suggestion) between two channel profiles. Its evidence is what the resolver
kept: the prior and each comparison's weight in bits (`resolver.scoring`), identifier links with the
identifier they share, notes of rules and conflicts. A line names which channel joined which and
why ("WhatsApp +7 912 ***-**-89 is the phone typed in the web form"), with a strength in words
instead of weights. Evidence stored before the resolver kept weights has no prior: it reads as its
stored words, unrated.

Everything here is pure: `InboxService` reads the profiles and evidence, these functions word them.
Contact details leave masked (app/masking.py), as everywhere in the inbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.masking import mask_identifier, mask_text
from core.config import ResolverSettings
from core.records import Evidence
from core.values import Channel, IdKind, Provenance
from resolver.decide import CHANNEL_TITLES
from resolver.model import probability
from resolver.scoring import PRIOR, weight_of

# A part weighing less than this (in bits, either way) says too little to be worth words: "different
# channels" is -0.05 on every cross-channel pair.
NOTABLE_BITS = 1.0
# Inbox percentages are whole; past these the rounding would claim certainty (100%) or impossibility.
HIGHEST_SHOWN = 0.99
LOWEST_SHOWN = 0.01
# The rule notes that mean two channels vouch for the same number (decide.py words them so).
VERIFIED_RULE = "a number both channels verified"

ID_RULES = {"phone": IdKind.PHONE, "email": IdKind.EMAIL, "username": IdKind.TELEGRAM_USERNAME}
ID_NOUNS = {IdKind.PHONE: "phone", IdKind.EMAIL: "e-mail", IdKind.TELEGRAM_USERNAME: "Telegram username"}
# Which way an identifier reached us counts for the line: a number the channel vouches for first.
PROVENANCE_ORDER = (Provenance.CHANNEL, Provenance.TYPED, Provenance.MENTIONED)
TEXT_WORDS = {
    "same": "same question",
    "near": "nearly the same question",
    "topic": "the same subject in other words",
    "loose": "a similar question",
}
SOON_WORDS = {"soon": "within 20 minutes", "later": "more than 20 minutes apart"}


class Strength(StrEnum):
    """How sure a link is, in words; `bars` of four fill the small bar beside it."""

    CERTAIN = "certain"  # two channels vouch for the same number, or the same account
    CONFIRMED = "confirmed"  # a person linked them
    STRONG = "strong"  # enough to merge on its own
    LIKELY = "likely"  # enough to be suggested
    WEAK = "weak"
    UNRATED = "not rated"  # linked before match probabilities were kept

    @property
    def bars(self) -> int:
        return _BARS[self]


_BARS = {
    Strength.CERTAIN: 4,
    Strength.CONFIRMED: 4,
    Strength.STRONG: 3,
    Strength.LIKELY: 2,
    Strength.WEAK: 1,
    Strength.UNRATED: 0,
}
# Strongest first; among equals, the more probable.
_RANK = {s: n for n, s in enumerate(Strength)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Bands:
    """Where the words change, as match probabilities: the resolver's own thresholds, so "strong" is
    what merges on its own and "likely" what reaches the review queue."""

    strong: float
    likely: float

    @classmethod
    def of(cls, settings: ResolverSettings) -> Bands:
        return cls(strong=settings.merge_probability, likely=settings.review_probability)

    def word(self, p: float) -> Strength:
        if p >= self.strong:
            return Strength.STRONG
        if p >= self.likely:
            return Strength.LIKELY
        return Strength.WEAK


@dataclass(frozen=True, slots=True, kw_only=True)
class End:
    """One profile at an end of a link: its channel and how it holds each identifier."""

    key: str
    channel: Channel
    held: Mapping[str, Provenance] = field(default_factory=dict)  # identifier key -> provenance


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One link explained."""

    text: str
    strength: Strength
    probability: float | None  # None for evidence kept before match probabilities
    linked_by: str = ""  # who linked them by hand
    channels: tuple[str, ...] = ()  # the joining profile's channel, then the joined one's

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "strength": str(self.strength),
            "bars": self.strength.bars,
            "probability": None if self.probability is None else round(self.probability, 4),
            "likelihood": likelihood(self.probability),
            "linked_by": self.linked_by,
            "channels": list(self.channels),
        }


# -- numbers in words ------------------------------------------------------------------------------


def percent(p: float) -> str:
    """A match probability as a whole percentage that never rounds to 0% or 100%."""
    if p > HIGHEST_SHOWN:
        return "over 99%"
    if p < LOWEST_SHOWN:
        return "under 1%"
    return f"{round(p * 100)}%"


def likelihood(p: float | None) -> str:
    if p is None:
        return "likelihood not measured"
    return f"{percent(p)} likely the same person"


def match_probability(evidence: Sequence[Evidence]) -> float | None:
    """The probability the evidence adds up to; None when it was kept without the prior (no weights)."""
    if not any(e.rule == PRIOR for e in evidence):
        return None
    return probability(weight_of(evidence))


def suggestion_probability(score: float, evidence: Sequence[Evidence]) -> float | None:
    """A suggestion's score is its match probability; one stored before the model kept a score on
    another scale, and then only its evidence can say."""
    if 0.0 <= score <= 1.0:
        return score
    return match_probability(evidence)


def channel_title(channel: Channel | str) -> str:
    return CHANNEL_TITLES.get(Channel(channel), str(channel)) if channel in set(Channel) else str(channel)


def _where(channel: Channel) -> str:
    return f"in {channel_title(channel)}" if channel is Channel.WEBFORM else f"on {channel_title(channel)}"


def _both(a: Channel, b: Channel) -> str:
    """Where two messages were: "on Avito and Telegram", "in the web form and on Avito"."""
    if a == b:
        return f"from two {channel_title(a)} accounts"
    if Channel.WEBFORM not in (a, b):
        return f"on {channel_title(a)} and {channel_title(b)}"
    return f"{_where(a)} and {_where(b)}"


def _apart(seconds: float) -> str:
    if seconds < 60:
        return "within a minute"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min apart"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} hours apart"
    return f"{round(seconds / 86400)} days apart"


# -- choosing the two profiles a link joins -------------------------------------------------------


def _identifiers(evidence: Iterable[Evidence]) -> list[str]:
    """The identifier keys the evidence names, strongest part first."""
    found = sorted((e for e in evidence if e.values.get("identifier")), key=lambda e: -e.score)
    return list(dict.fromkeys(e.values["identifier"] for e in found))


def _best_holder(side: Sequence[End], ident: str) -> End | None:
    holders = [end for end in side if ident in end.held]
    return min(holders, key=lambda end: PROVENANCE_ORDER.index(end.held[ident]), default=None)


def pick_ends(
    evidence: Sequence[Evidence],
    joining: Sequence[End],
    joined: Sequence[End],
    edges: Mapping[frozenset[str], float],
) -> tuple[End, End] | None:
    """The two profiles a link joins: those holding its identifier (the channel-vouched copy first),
    else the pair with the strongest evidence edge, else each side's first profile."""
    if not joining or not joined:
        return None
    for ident in _identifiers(evidence):
        a, b = _best_holder(joining, ident), _best_holder(joined, ident)
        if a is not None and b is not None:
            return a, b
    scored = [
        (edges[frozenset((a.key, b.key))], n, a, b)
        for n, (a, b) in enumerate(_pairs(joining, joined))
        if frozenset((a.key, b.key)) in edges
    ]
    if scored:
        _, _, a, b = max(scored, key=lambda found: (found[0], -found[1]))
        return a, b
    return joining[0], joined[0]


def _pairs(joining: Sequence[End], joined: Sequence[End]) -> list[tuple[End, End]]:
    return [(a, b) for a in joining for b in joined]


# -- the words of each part -----------------------------------------------------------------------


def _identifier_words(ident: str, ends: tuple[End, End] | None) -> tuple[str, bool]:
    """The sentence for a shared identifier, and whether both channels vouch for it."""
    kind, _, _ = ident.partition(":")
    shown = mask_identifier(ident)
    noun = ID_NOUNS.get(IdKind(kind), kind) if kind in set(IdKind) else kind.replace("_", " ")
    if ends is None or ident not in ends[0].held or ident not in ends[1].held:
        return f"same {noun} {shown}", False
    a, b = ends
    how_a, how_b = a.held[ident], b.held[ident]
    if how_a is Provenance.CHANNEL and how_b is Provenance.CHANNEL:
        if a.channel == b.channel:
            return f"same {noun} {shown} on two {channel_title(a.channel)} accounts", True
        if Channel.WHATSAPP in (a.channel, b.channel):
            other = b if a.channel is Channel.WHATSAPP else a
            return f"WhatsApp {shown} is the {noun} {channel_title(other.channel)} confirmed", True
        return f"{channel_title(a.channel)} and {channel_title(b.channel)} both confirmed the {noun} {shown}", True
    if Provenance.CHANNEL in (how_a, how_b):
        vouched, other = (a, b) if how_a is Provenance.CHANNEL else (b, a)
        said = _how(other.held[ident], other.channel)
        if vouched.channel is Channel.WHATSAPP and kind == IdKind.PHONE:
            return f"WhatsApp {shown} is the {noun} {said}", False
        return f"the {noun} {said} is {channel_title(vouched.channel)}'s confirmed {noun} {shown}", False
    said_a, said_b = _how(how_a, a.channel), _how(how_b, b.channel)
    if said_a == said_b:
        return f"same {noun} {shown} {said_a} both times", False
    return f"same {noun} {shown} {said_a} and {said_b}", False


def _how(provenance: Provenance, channel: Channel) -> str:
    if provenance is Provenance.TYPED:
        return f"typed {_where(channel)}"
    if provenance is Provenance.MENTIONED:
        return f"written in a message {_where(channel)}"
    return f"confirmed by {channel_title(channel)}"


def _text_words(part: Evidence, ends: tuple[End, End] | None) -> str:
    level = part.values.get("level", "")
    base, _, when = level.rpartition("_")
    if ends is None or not base:
        return part.detail
    seconds = part.values.get("seconds", "")
    gap = _apart(float(seconds)) if seconds.replace(".", "", 1).isdigit() else SOON_WORDS.get(when, "")
    where = _both(ends[0].channel, ends[1].channel)
    what = TEXT_WORDS.get(base)
    said = f"{what} {where}" if what else f"wrote {where}"
    return f"{said} {gap}".strip()


_NAME_PREFIX = re.compile(r"^(?:first )?name (?=.+ ≈ )")
_NAME_SUFFIX = re.compile(r" \((?:initial|spelling)\)$")


def _name_words(part: Evidence) -> str:
    """ "name Александр П. ≈ Саша Петров (initial)" -> "Александр П. ≈ Саша Петров"."""
    if part.detail.startswith("different names "):
        return "the names differ: " + part.detail.removeprefix("different names ")
    if part.values.get("level") == "mismatch":
        return "the names share nothing"
    return _NAME_SUFFIX.sub("", _NAME_PREFIX.sub("", part.detail))


def _part_words(part: Evidence, ends: tuple[End, End] | None) -> str:
    if part.rule in ID_RULES or part.values.get("identifier"):
        ident = part.values.get("identifier", "")
        return _identifier_words(ident, ends)[0] if ident else part.detail
    if part.rule == "text":
        return _text_words(part, ends)
    if part.rule == "name":
        return _name_words(part)
    if part.rule == "corroboration":
        return "matched from another channel too"
    return part.detail


# Parts whose words the line leaves out: the prior (the same for every pair), the channel comparison
# (the line names both channels), rule notes (the strength says it) and manual notes (`linked_by`).
_UNSAID = frozenset({PRIOR, "channel", "rule", "manual"})


def _weighed_sentence(evidence: Sequence[Evidence], ends: tuple[End, End] | None) -> str:
    parts = [e for e in evidence if e.rule not in _UNSAID]
    # Identifier kinds the model does not weigh are kept at 0 and still say something.
    said = [e for e in parts if e.score >= NOTABLE_BITS or (e.score == 0.0 and e.rule != "conflict")]
    against = [e for e in parts if e.score <= -NOTABLE_BITS or e.rule == "conflict"]
    words = [_part_words(e, ends) for e in sorted(said, key=lambda e: -e.score)]
    text = "; ".join(dict.fromkeys(w for w in words if w))
    buts = list(dict.fromkeys(w for w in (_part_words(e, ends) for e in against) if w))
    if buts:
        text = f"{text}, but {'; '.join(buts)}" if text else "; ".join(buts)
    return text


def _stored_sentence(evidence: Sequence[Evidence], ends: tuple[End, End] | None) -> str:
    """Evidence kept before weights: its stored words, with the two channels named when known."""
    words = "; ".join(dict.fromkeys(e.detail for e in evidence if e.detail and e.rule != "manual"))
    if ends is None or not words:
        return words
    return f"{_both(ends[0].channel, ends[1].channel).removeprefix('on ')}: {words}"


def _certain(evidence: Sequence[Evidence], ends: tuple[End, End] | None) -> bool:
    if any(e.rule == "channel_account" for e in evidence):
        return True  # the same channel account (kept before weights)
    if any(e.rule == "rule" and e.detail.endswith(VERIFIED_RULE) for e in evidence):
        return True
    return any(_identifier_words(ident, ends)[1] for ident in _identifiers(evidence))


def explain_link(
    evidence: Sequence[Evidence],
    ends: tuple[End, End] | None,
    bands: Bands,
    *,
    linked_by: str = "",
) -> Line:
    """One link's line. `ends` are the joining and the joined profile (`pick_ends`); `linked_by` the
    user who linked them by hand, if one did."""
    p = match_probability(evidence)
    text = _weighed_sentence(evidence, ends) if p is not None else _stored_sentence(evidence, ends)
    if linked_by:
        strength = Strength.CONFIRMED
        if text:
            text = f"{text}; linked by {linked_by}"
        elif ends is not None:
            text = f"{_both(ends[0].channel, ends[1].channel).removeprefix('on ')} linked by {linked_by}"
        else:
            text = f"linked by {linked_by}"
    elif _certain(evidence, ends):
        strength = Strength.CERTAIN
    elif p is None:
        strength = Strength.UNRATED
    else:
        strength = bands.word(p)
    channels = (str(ends[0].channel), str(ends[1].channel)) if ends else ()
    return Line(
        text=mask_text(text) or "no recorded evidence",
        strength=strength,
        probability=p,
        linked_by=linked_by,
        channels=channels,
    )


def strongest_first(lines: Iterable[Line]) -> list[Line]:
    """Lines ordered strongest first, each text once (the stronger copy kept)."""
    ordered = sorted(lines, key=lambda line: (_RANK[line.strength], -(line.probability or 0.0), line.text))
    seen: set[str] = set()
    out: list[Line] = []
    for line in ordered:
        if line.text not in seen:
            seen.add(line.text)
            out.append(line)
    return out
