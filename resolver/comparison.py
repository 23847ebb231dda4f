"""Comparison: for each attribute, ordered levels; the first level that matches wins."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from core.names import (
    SURNAME_ENDINGS,
    NameMatch,
    PersonName,
    compare_names,
    gender_stem,
    given_canonicals,
    misspelt_given,
    parse_name,
)
from core.records import Profile, RecentHit
from core.text import MIN_SWAP_LEN, informative_tokens, is_generic_text, swap_key, text_key, text_similarity
from core.values import Message

# Text levels (rapidfuzz scores over normalized texts, 0..100).
TEXT_SAME_MIN = 90.0
TEXT_NEAR_MIN = 85.0
# A subject word counts as present in the other text when some word there is this alike (typos).
WORD_MATCH_MIN = 75.0
TEXT_LOOSE_MIN = 70.0
# The same subject in other words ("Рассрочка есть? Хочу кровать 160х200" / "Кровать 160х200 можно в
# рассрочку?"): at least this many subject words of the shorter text, and these shares of each side's
# subject words, have a counterpart on the other side.
TOPIC_MIN_WORDS = 3
TOPIC_SHORTER_SHARE = 0.75
TOPIC_LONGER_SHARE = 0.5

# Time levels: the impatient customer writes everywhere within minutes.
IMMEDIATE_S = 10 * 60
BURST_S = 20 * 60
CLOSE_S = 30 * 60

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
    TOPIC = "topic"  # the same subject words, reworded or with words added
    LOOSE = "loose"
    GENERIC = "generic"  # at least one side says nothing specific ("Актуально?")
    OTHER = "other"


class TimeLevel(StrEnum):
    IMMEDIATE = "immediate"
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
            levels.add(compare_person_names(a, b))
    if NameMatch.DIFFERENT in levels:
        return NameMatch.DIFFERENT
    for level in NAME_ORDER:
        if level in levels:
            return level
    return NameMatch.UNKNOWN


def compare_person_names(a: PersonName, b: PersonName) -> NameMatch:
    """compare_names, plus: a rare given name we do not know ("Антип") read as a surname still agrees
    with the same word in a fuller name ("Антип Калашников")."""
    level = compare_names(a, b)
    if (
        level is NameMatch.UNKNOWN
        and a.usable
        and b.usable
        and (_share_word(a.tokens, b.tokens) or _misspelt_given(a, b) or _misspelt_given(b, a))
    ):
        return NameMatch.GIVEN_ONLY
    return level


def _misspelt_given(a: PersonName, b: PersonName) -> bool:
    """A word of ``a`` is a typo of a given name of ``b`` ("Герогий" / "Георгий", "Максми Медведев" /
    "Maksim"): people mistype their own name in a form. It only agrees, never clashes, being a guess."""
    return any(misspelt_given(s) & b.given for s in a.surnames)


# Folded name words that start alike this far are one name's forms ("nikitos" / "nikita").
SHARED_PREFIX = 5


def _share_word(ours: Sequence[str], theirs: Sequence[str]) -> bool:
    return any(_same_word(a, b) for a in ours for b in theirs)


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    if gender_stem(a) == gender_stem(b):
        # Петров / Петрова: one family, two people.
        return False
    return len(a) >= SHARED_PREFIX and a[:SHARED_PREFIX] == b[:SHARED_PREFIX]


def names_disagree(ours: Iterable[str], theirs: Iterable[str], *, nicknames: bool = False) -> bool:
    """Usable names on both sides that share no word and no known given name ("Кондрат" / "Игорь").

    Not a clash we can be sure of (either may be a nickname or a surname), so it weighs against an
    evidence link without vetoing it, and never makes an identifier shared. A lone word that is
    neither a given name we know nor shaped like a surname ("Kot", "Sunny") is a nickname, which says
    nothing about the name behind it: it disagrees only when ``nicknames`` is set (a typed number
    behind it is too uncertain to merge on).
    """
    ours_parsed = [p for p in (parse_name(n) for n in ours if n) if p.usable]
    theirs_parsed = [p for p in (parse_name(n) for n in theirs if n) if p.usable]
    if not ours_parsed or not theirs_parsed:
        return False
    return all(
        compare_person_names(a, b) is NameMatch.UNKNOWN
        and (nicknames or not (_nickname(a) or _nickname(b)))
        and not _complement(a, b)
        and not _complement(b, a)
        and not _one_edit_apart(a, b)
        for a in ours_parsed
        for b in theirs_parsed
    )


def _nickname(name: PersonName) -> bool:
    """One word that is neither a given name we know nor shaped like a surname ("Kot", "Sunny",
    "Котик"): a nickname says nothing about the name behind it, so it cannot disagree with one."""
    return not name.given and not name.initials and len(name.surnames) == 1 and not _surname_shaped(name)


def _surname_shaped(name: PersonName) -> bool:
    return all(len(s) > 4 and s.endswith(SURNAME_ENDINGS) for s in name.surnames)


def _complement(given: PersonName, surname: PersonName) -> bool:
    """A first name alone and a surname alone ("Елена" / "Калашникова") are halves of one full name,
    not a disagreement."""
    return (
        bool(given.given)
        and not given.surnames
        and not surname.given
        and all(len(s) > 4 and s.endswith(SURNAME_ENDINGS) for s in surname.surnames)
    )


def compare_text(a: str, b: str) -> tuple[TextLevel, float]:
    if not a or not b or is_generic_text(a) or is_generic_text(b):
        return TextLevel.GENERIC, 0.0
    similarity = text_similarity(text_key(a), text_key(b))
    near = False
    if similarity >= TEXT_NEAR_MIN:
        # Templates differ in one slot word ("замена масла" / "замена колодок") yet score like typos
        # do: the same question means every subject word has a counterpart on the other side.
        ours, theirs = _unmatched_words(a, b), _unmatched_words(b, a)
        if similarity >= TEXT_SAME_MIN and max(ours, theirs) == 0:
            return TextLevel.SAME, similarity
        if ours == theirs == 1:
            return TextLevel.NEAR, similarity  # one slot word swapped for another: a template's other question
        near = max(ours, theirs) <= 1
    # Words added to the same subject ("Повторю вопрос: ...") or the subject reworded: its own level,
    # apart from a swapped slot word, because the two mean opposite things.
    if _same_subject(a, b):
        return TextLevel.TOPIC, similarity
    if near:
        return TextLevel.NEAR, similarity
    return (TextLevel.LOOSE if similarity >= TEXT_LOOSE_MIN else TextLevel.OTHER), similarity


def _same_subject(a: str, b: str) -> bool:
    """Most subject words of both texts have a counterpart on the other side, however worded."""
    words_a, words_b = _subject_words(a), _subject_words(b)
    if min(len(words_a), len(words_b)) < TOPIC_MIN_WORDS:
        return False
    (shorter, long_text), (longer, short_text) = sorted(((words_a, b), (words_b, a)), key=lambda s: len(s[0]))
    # Most pairs share little: stop counting as soon as too many words have no counterpart.
    need = max(TOPIC_MIN_WORDS, math.ceil(TOPIC_SHORTER_SHARE * len(shorter)))
    if len(shorter) - _unmatched_count(shorter, long_text, limit=len(shorter) - need) < need:
        return False
    need_back = math.ceil(TOPIC_LONGER_SHARE * len(longer))
    return len(longer) - _unmatched_count(longer, short_text, limit=len(longer) - need_back) >= need_back


def _unmatched_words(a: str, b: str, *, unique: bool = False) -> int:
    words_a = informative_tokens(a)
    return _unmatched_count(set(words_a) if unique else words_a, b)


# A recent message is compared with every message that follows it within the window (dozens when
# traffic is dense): what a comparison needs of one text is worked out once per text.
_TEXT_CACHE = 16384


@lru_cache(maxsize=_TEXT_CACHE)
def _subject_words(text: str) -> frozenset[str]:
    return frozenset(informative_tokens(text))


@lru_cache(maxsize=_TEXT_CACHE)
def _words_of(text: str) -> tuple[tuple[str, ...], frozenset[str], frozenset[str]]:
    """The words of a text's key, as a set, and the swap keys of those long enough to have one."""
    words = tuple(text_key(text).split())
    return words, frozenset(words), frozenset(swap_key(w) for w in words if len(w) >= MIN_SWAP_LEN)


def _unmatched_count(words: Iterable[str], b: str, *, limit: int | None = None) -> int:
    """Words without a counterpart in text ``b``; counting stops once past ``limit``."""
    words_b, exact, swapped_b = _words_of(b)
    missing = 0
    for word in words:
        if word in exact:
            continue
        # Some word of b at least WORD_MATCH_MIN alike (rapidfuzz's loop, in C).
        if process.extractOne(word, words_b, scorer=fuzz.ratio, processor=None, score_cutoff=WORD_MATCH_MIN):
            continue
        if len(word) >= MIN_SWAP_LEN and swap_key(word) in swapped_b:  # "Huynadi" is "Hyundai"
            continue
        missing += 1
        if limit is not None and missing > limit:
            break
    return missing


# Text and time are one comparison: the impatient customer repeats the question within minutes, so
# closeness in time says much about the same question and little about two different ones (people
# write within minutes of each other all day). Weighed apart they would count the burst twice.
SOON_S = BURST_S


def text_time_level(text: TextLevel, gap_s: float) -> str:
    """The joint text-and-time level: the text level, then "soon" (within the window) or "later"."""
    return f"{text.value}_{'soon' if gap_s <= SOON_S else 'later'}"


def compare_time(a: datetime, b: datetime) -> tuple[TimeLevel, float]:
    gap = abs((a - b).total_seconds())
    if gap <= IMMEDIATE_S:
        return TimeLevel.IMMEDIATE, gap
    if gap <= BURST_S:
        return TimeLevel.BURST, gap
    if gap <= CLOSE_S:
        return TimeLevel.CLOSE, gap
    return TimeLevel.WINDOW, gap


@dataclass(frozen=True, slots=True, kw_only=True)
class PairLevels:
    """The comparison vector of a message and another profile's recent message."""

    name: NameMatch
    name_mismatch: bool  # readable names that share nothing: against the link, short of a clash
    text: TextLevel
    similarity: float
    time: TimeLevel
    gap_s: float
    same_channel: bool

    @property
    def same_text(self) -> bool:
        return self.text in (TextLevel.SAME, TextLevel.NEAR)

    @property
    def exact_text(self) -> bool:
        return self.text is TextLevel.SAME

    @property
    def named(self) -> bool:
        return self.name not in (NameMatch.UNKNOWN, NameMatch.DIFFERENT)


def compare_pair(message: Message, other: Profile, hit: RecentHit) -> PairLevels:
    name = compare_name_sets([message.name], [other.name])
    text, similarity = compare_text(message.text, hit.text)
    time, gap = compare_time(message.received_at, hit.at)
    mismatch = name is NameMatch.UNKNOWN and names_disagree([message.name], [other.name])
    # The same question from several channels within minutes, one of them signed "Еифан" and another
    # "Епифан": a typo in a given name does not make two people.
    burst = text is TextLevel.SAME and time in (TimeLevel.IMMEDIATE, TimeLevel.BURST)
    if name is NameMatch.UNKNOWN and burst and given_name_typo(message.name, other.name):
        name = NameMatch.FUZZY
    return PairLevels(
        name=name,
        name_mismatch=mismatch,
        text=text,
        similarity=similarity,
        time=time,
        gap_s=gap,
        same_channel=message.channel == other.channel,
    )


# Words shorter than this are too short to call one a typo of the other.
TYPO_MIN_LEN = 3


def given_name_typo(a: str, b: str) -> bool:
    """One edit (a letter dropped, added, changed or two swapped) between a word of each name:
    "Еифан" / "Епифан", "Фис" / "Фирс", "Атнип" / "Антип". Rare given names are not in our table, so
    any word counts; a first letter that differs too counts only for a given name we know."""
    return _one_edit_apart(parse_name(a), parse_name(b))


def _one_edit_apart(a: PersonName, b: PersonName) -> bool:
    for x in a.tokens:
        for y in b.tokens:
            if min(len(x), len(y)) < TYPO_MIN_LEN:
                continue
            if x[0] != y[0] and not (given_canonicals(x) or given_canonicals(y)):
                continue
            if OSA.distance(x, y) == 1:
                return True
    return False


# -- the values a comparison agreed on, for term frequencies -----------------------------------------------


def name_terms(raw: str) -> tuple[str, ...]:
    """The values a name counts as for term frequencies: the whole name and each given name in it."""
    parsed = parse_name(raw)
    if not parsed.usable:
        return ()
    return ("x:" + "|".join(parsed.tokens), *sorted("g:" + g for g in parsed.given))


@lru_cache(maxsize=65536)
def agreed_name_terms(a: str, b: str) -> tuple[str, ...]:
    """What two agreeing names share: the whole name when it is the same, else the given names both
    carry (or, for a name we do not know, the word both carry)."""
    x, y = parse_name(a), parse_name(b)
    if not x.usable or not y.usable:
        return ()
    if x.tokens == y.tokens:
        return ("x:" + "|".join(x.tokens),)
    shared = sorted("g:" + g for g in x.given & y.given)
    return tuple(shared) or tuple(sorted("x:" + t for t in set(x.tokens) & set(y.tokens)))


@lru_cache(maxsize=65536)
def text_term(text: str) -> str:
    """The value a text counts as for term frequencies: its subject words, in order of the alphabet."""
    if not text or is_generic_text(text):
        return ""
    return "|".join(sorted(set(informative_tokens(text))))
