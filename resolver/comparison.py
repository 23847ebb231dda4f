"""Comparison: for each attribute, ordered levels; the first level that matches wins."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from core.names import NameMatch, compare_names, parse_name
from core.text import is_generic_text, text_key, text_similarity

# Text levels (rapidfuzz scores over normalized texts, 0..100).
TEXT_SAME_MIN = 93.0
TEXT_NEAR_MIN = 85.0
TEXT_LOOSE_MIN = 70.0

# Time levels: the impatient customer writes everywhere within minutes.
BURST_S = 5 * 60
CLOSE_S = 15 * 60

# Best-first order of name levels, for "the strongest agreement between two sets of names".
NAME_ORDER = (
    NameMatch.EXACT,
    NameMatch.EQUIVALENT,
    NameMatch.INITIAL,
    NameMatch.FUZZY,
    NameMatch.GIVEN_ONLY,
    NameMatch.UNKNOWN,
)


class TextLevel(StrEnum):
    SAME = "same"
    NEAR = "near"
    LOOSE = "loose"
    GENERIC = "generic"  # at least one side says nothing specific ("Актуально?")
    OTHER = "other"


class TimeLevel(StrEnum):
    BURST = "burst"
    CLOSE = "close"
    WINDOW = "window"


def compare_name_sets(ours: Iterable[str], theirs: Iterable[str]) -> NameMatch:
    """How two persons' names agree: DIFFERENT if any two usable names clash, else the best level."""
    levels: set[NameMatch] = set()
    ours_parsed = [parse_name(n) for n in ours if n]
    theirs_parsed = [parse_name(n) for n in theirs if n]
    for a in ours_parsed:
        for b in theirs_parsed:
            levels.add(compare_names(a, b))
    if NameMatch.DIFFERENT in levels:
        return NameMatch.DIFFERENT
    for level in NAME_ORDER:
        if level in levels:
            return level
    return NameMatch.UNKNOWN


def compare_text(a: str, b: str) -> tuple[TextLevel, float]:
    if not a or not b or is_generic_text(a) or is_generic_text(b):
        return TextLevel.GENERIC, 0.0
    similarity = text_similarity(text_key(a), text_key(b))
    if similarity >= TEXT_SAME_MIN:
        return TextLevel.SAME, similarity
    if similarity >= TEXT_NEAR_MIN:
        return TextLevel.NEAR, similarity
    if similarity >= TEXT_LOOSE_MIN:
        return TextLevel.LOOSE, similarity
    return TextLevel.OTHER, similarity


def compare_time(a: datetime, b: datetime) -> tuple[TimeLevel, float]:
    gap = abs((a - b).total_seconds())
    if gap <= BURST_S:
        return TimeLevel.BURST, gap
    if gap <= CLOSE_S:
        return TimeLevel.CLOSE, gap
    return TimeLevel.WINDOW, gap
