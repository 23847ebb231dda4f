"""Scoring: level weights (log-odds in spirit, hand-set and measured by bench/accuracy.py)."""

from __future__ import annotations

from dataclasses import dataclass

from core.names import NameMatch
from core.records import Evidence
from resolver.comparison import TextLevel, TimeLevel

NAME_WEIGHTS: dict[NameMatch, float] = {
    NameMatch.EXACT: 6.0,
    NameMatch.EQUIVALENT: 5.0,
    NameMatch.INITIAL: 4.0,
    NameMatch.FUZZY: 3.0,
    NameMatch.GIVEN_ONLY: 3.0,
    NameMatch.UNKNOWN: 0.0,
    # Clashing names veto evidence links outright: precision first.
    NameMatch.DIFFERENT: -100.0,
}
TEXT_WEIGHTS: dict[TextLevel, float] = {
    TextLevel.SAME: 8.0,
    TextLevel.NEAR: 3.0,
    TextLevel.LOOSE: 1.0,
    TextLevel.GENERIC: 0.0,
    TextLevel.OTHER: -2.0,
}
TIME_WEIGHTS: dict[TimeLevel, float] = {
    TimeLevel.IMMEDIATE: 4.0,
    TimeLevel.BURST: 4.0,
    TimeLevel.CLOSE: 0.0,
    TimeLevel.WINDOW: 0.0,
}
# An exact identifier: both channels verified it (a WhatsApp sender and a Telegram contact share), or
# at least one side typed it. Merges through identifiers do not need a score to pass; the weight orders
# conflicting links and tells managers how strong the link is.
IDENTIFIER_WEIGHTS: dict[str, float] = {"verified": 16.0, "typed": 12.0}
# Share of an earlier link from another of our profiles to the same candidate that is added.
CORROBORATION_FACTOR = 0.5
# Readable names that share nothing ("Кондрат" / "Игорь"): against the link, short of a veto.
NAME_MISMATCH_WEIGHT = -4.0
# Two accounts on one channel writing within minutes are more often two people than one.
SAME_CHANNEL_WEIGHT = -3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PairScore:
    score: float
    evidence: tuple[Evidence, ...]
    named: bool = False  # the names agree (not merely fail to clash)
    same_text: bool = False  # the texts are near-identical
    exact_text: bool = False  # the texts are the same question (every subject word matches)


def total(*parts: Evidence, named: bool = False, same_text: bool = False, exact_text: bool = False) -> PairScore:
    return PairScore(
        score=sum(p.score for p in parts),
        evidence=tuple(p for p in parts if p.detail),
        named=named,
        same_text=same_text,
        exact_text=exact_text,
    )
