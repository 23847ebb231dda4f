"""Personal-name parsing and comparison: one of the resolver's comparison primitives.

Names are compared in Latin: every token is transliterated and folded (`fold_token`) so that
"Александр" and "Aleksandr" meet, and diminutives are mapped to canonical given names so that
"Саша" meets "Alexander". Word order never matters and patronymics are dropped.

Precision comes first in both directions. A match that is too generous merges two customers and
leaks one's chat to the other; a DIFFERENT that is too eager blocks a merge through a shared phone.
So DIFFERENT is only returned on clear disagreement between two readable personal names, and
anything we cannot read (handles, businesses, emoji) is UNKNOWN.

Comparison levels, the first that holds wins:

    UNKNOWN     a side has no usable name
    EXACT       same folded tokens, with a known given name (and a surname, or a lone given name)
    EQUIVALENT  given names agree after diminutives, surnames share a token
    INITIAL     given names agree and a bare initial matches the other's surname, or
                surnames agree and a bare initial matches the other's given name
    DIFFERENT   given names clash; or they agree and the surnames clearly differ; or the surnames
                agree and the initials clash with the other's given name
    FUZZY       given names agree and the surnames are a typo or gender variant of each other; or
                the folded names are within FUZZY_MIN and share a blocking key
    GIVEN_ONLY  given names agree, a side has no surname
    UNKNOWN     otherwise (e.g. a surname alone against a full name: too little to say either way)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from unidecode import unidecode

from core.given_names import GIVEN_NAMES, MORE_GIVEN_NAMES

# A folded name at or above this token_sort_ratio is a typo of the other (providers.md: ~88-90 is
# weak evidence, so it is FUZZY, never EQUIVALENT).
FUZZY_MIN = 88.0
# Two surnames at or above this ratio are a typo of each other ("petrov"/"petrof" = 83.3), so they do
# not count as a clear disagreement; "petrov"/"sidorov" stays well below.
SURNAME_TYPO_MIN = 80.0
# More tokens than this is a sentence or a business name, not a person.
MAX_NAME_TOKENS = 4
# Surname tokens shorter than this are noise ("a" is an initial, handled separately).
MIN_SURNAME_LEN = 2
# Tokens at least this long get a prefix blocking key so a typo late in the word still meets.
BLOCK_PREFIX_LEN = 4

_CACHE_SIZE = 65536


class NameMatch(StrEnum):
    """How two personal names relate; see the module docstring for the order of the checks."""

    EXACT = "exact"
    EQUIVALENT = "equivalent"
    INITIAL = "initial"
    FUZZY = "fuzzy"
    GIVEN_ONLY = "given_only"
    UNKNOWN = "unknown"
    DIFFERENT = "different"


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonName:
    """A parsed display name.

    `tokens` are the folded tokens that make up the name (patronymics dropped), sorted; `given`
    holds canonical given names (a diminutive may yield several: "sasha" -> aleksandr, aleksandra);
    `surnames` the folded tokens that are not known given names; `initials` the folded forms of
    single-letter tokens ("П." -> "p", "Ю." -> "iu"). A name that is not a person's (a handle, a
    business, emoji) has everything empty, except a business keeps any known given name it holds.
    """

    raw: str
    tokens: tuple[str, ...] = ()
    given: frozenset[str] = frozenset()
    surnames: frozenset[str] = frozenset()
    initials: frozenset[str] = frozenset()

    @property
    def usable(self) -> bool:
        """Whether there is anything to compare: a given name or a surname."""
        return bool(self.given or self.surnames)


# --- folding --------------------------------------------------------------------------------------

# Order matters: "shch" before "sh"-producing rules, "kh"/"ph"/"th" before single letters, y/j last
# so that "ya"/"ja"/"iya" all become "ia" once doubled letters collapse.
_FOLD_RULES: tuple[tuple[str, str], ...] = (
    ("shch", "sh"),
    ("x", "ks"),
    ("kh", "h"),
    ("ph", "f"),
    ("th", "t"),
    ("ck", "k"),
    ("w", "v"),
    ("y", "i"),
    ("j", "i"),
)
_DOUBLE_RE = re.compile(r"(.)\1+")
# Latin "io"/"yo" between consonants is how people write Russian "ё" ("Igoriok", "Seryozha"), which
# folds to "e" from Cyrillic: both spellings must meet.
_YO_RE = re.compile(r"(?<=[bcdfghklmnprstvz])io(?=[bcdfghklmnprstvz]|$)")
_NON_LATIN_RE = re.compile(r"[^a-z]")


@lru_cache(maxsize=_CACHE_SIZE)
def fold_token(token: str) -> str:
    """One word in any script -> folded lower-case Latin ("Юлия" and "Julia" -> "iulia").

    Only letters survive (digits, punctuation, soft and hard signs are dropped).
    """
    # ё is not always written; unidecode would make it "io" where "е" gives "e".
    letters = "".join(ch for ch in token.replace("ё", "е").replace("Ё", "Е") if ch.isalpha())
    folded = _NON_LATIN_RE.sub("", unidecode(letters).lower())
    for old, new in _FOLD_RULES:
        folded = folded.replace(old, new)
    folded = _YO_RE.sub("e", _DOUBLE_RE.sub(r"\1", folded))
    # Word-initial "ye" (Yelena, Yevgeny) is how English writes Russian "Е"; unidecode writes "e".
    if folded.startswith("ie") and len(folded) > 3:
        folded = folded[1:]
    return folded


def _build_given_index() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Folded variant -> canonical names; canonical -> folded first letters of all its variants."""
    index: dict[str, set[str]] = {}
    letters: dict[str, set[str]] = {}
    for canonical_raw, variants in (*GIVEN_NAMES, *((name, "") for name in MORE_GIVEN_NAMES.split())):
        canonical = fold_token(canonical_raw)
        for variant in (canonical_raw, *variants.split()):
            folded = fold_token(variant)
            if len(folded) >= 2:
                index.setdefault(folded, set()).add(canonical)
                letters.setdefault(canonical, set()).add(folded[0])
    return (
        {k: frozenset(v) for k, v in index.items()},
        {k: frozenset(v) for k, v in letters.items()},
    )


_GIVEN_INDEX, _GIVEN_LETTERS = _build_given_index()


def given_canonicals(token: str) -> frozenset[str]:
    """Canonical given names a folded token may stand for (empty if it is not a known given name)."""
    return _GIVEN_INDEX.get(token, frozenset())


# Folded endings that mark a word as a surname ("Иванова", "Белов", "Ковальский", "Шевченко").
SURNAME_ENDINGS = ("ov", "ev", "in", "ova", "eva", "ina", "ski", "ska", "skaia", "enko", "uk", "ih")
# A word this long or longer that is one typo from a given name we know reads as that name.
TYPO_GIVEN_MIN_LEN = 6
_GIVEN_VARIANTS = tuple(sorted(_GIVEN_INDEX))


@lru_cache(maxsize=_CACHE_SIZE)
def misspelt_given(token: str) -> frozenset[str]:
    """The given name a word we do not know may be a typo of ("Герогий", "Кснеия", "Максми": a letter
    dropped, added, changed or two swapped): the one known name with a variant one edit away and the
    same first letter, for a word not shaped like a surname ("Марин" is not "Марина"). A guess, so
    `parse_name` leaves the word a surname; the resolver lets it agree with that name only."""
    if len(token) < TYPO_GIVEN_MIN_LEN or token.endswith(SURNAME_ENDINGS):
        return frozenset()
    found: set[str] = set()
    for variant, _, _ in process.extract_iter(token, _GIVEN_VARIANTS, scorer=OSA.distance, score_cutoff=1):
        if variant[0] == token[0]:
            found |= _GIVEN_INDEX[variant]
    return frozenset(found) if len(found) == 1 else frozenset()


# --- what is not a personal name ------------------------------------------------------------------

# Folded forms of courtesy titles people put before their name ("Mr. Виктория", "Pani Anna").
_TITLES = frozenset({"mr", "mrs", "ms", "mis", "miss", "dr", "sir", "pan", "pani", "gospodin", "gospoza"})
# Folded words people type when a form insists on a name ("test", "тест", "qwerty"), and the words a
# marketplace shows for an account without one ("Пользователь", "Покупатель", "Частное лицо"): not a
# name, so two such accounts never agree on one.
_PLACEHOLDERS = frozenset(
    {"test", "testt", "tests", "proverka", "qwerty", "qwe", "asd", "asdf", "aaa", "name", "imia", "anonim", "anonymous"}
    | {"polzovatel", "pokupatel", "chastnoe", "litso", "user", "guest", "customer", "buier"}
)

# Folded words that mark a business, a bot or a role rather than a person.
_BUSINESS_WORDS_TEXT = (
    "ооо ип зао оао пао ао тоо чп llc ltd inc gmbh corp co компания company фирма group групп "
    "автосервис сервис service авто auto автомойка шиномонтаж ремонт repair магазин shop store "
    "маркет market салон salon студия studio центр center centre клиника clinic доставка delivery "
    "такси taxi бот bot поддержка support менеджер manager админ admin администратор офис office "
    "официальный official team команда агентство agency недвижимость realty строй build мебель "
    "запчасти parts motors мотор garage гараж"
)
_BUSINESS_WORDS = frozenset(fold_token(w) for w in _BUSINESS_WORDS_TEXT.split())
_QUOTES = frozenset('«»"“”„')
_QUOTED_RE = re.compile(r"[«\"“„]([^«»\"“”„]*)[»\"”“]")
_HANDLE_MARKS = frozenset("_@/\\#") | {"http", "www", ".ru", ".com"}

_PATRONYMIC_ENDINGS = ("ovich", "evich", "ovna", "evna", "ichna")

# Masculine/feminine surname pairs fold to a common stem (Petrov/Petrova, Kowalski/Kowalska).
_GENDER_ENDINGS: tuple[tuple[str, str], ...] = (
    ("skaia", "ski"),
    ("ska", "ski"),
    ("ova", "ov"),
    ("eva", "ev"),
    ("ina", "in"),
)

_TOKEN_SPLIT_RE = re.compile(r"[\s\-.,;:()\[\]{}|+&!?*~=<>]+")
_APOSTROPHES_RE = re.compile(r"['’ʼ`´]")


def _looks_like_handle(raw: str) -> bool:
    lowered = raw.lower()
    return any(mark in lowered for mark in _HANDLE_MARKS)


def _quotes_name_a_business(text: str) -> bool:
    """Quotes mark a business ("ООО «Ромашка»") unless they hold a nickname ('Иван "Ваня" Петров')."""
    if not any(ch in _QUOTES for ch in text):
        return False
    quoted = _QUOTED_RE.findall(text)
    if not quoted:
        return True
    for segment in quoted:
        words = [fold_token(w) for w in _TOKEN_SPLIT_RE.split(segment)]
        if not all(given_canonicals(w) for w in words if w):
            return True
    return False


def _is_patronymic(token: str) -> bool:
    return len(token) > 6 and token.endswith(_PATRONYMIC_ENDINGS)


def gender_stem(surname: str) -> str:
    """The masculine stem of a folded surname ("petrova" -> "petrov", "kovalska" -> "kovalski")."""
    for feminine, masculine in _GENDER_ENDINGS:
        if surname.endswith(feminine) and len(surname) > len(feminine) + 1:
            return surname[: -len(feminine)] + masculine
    return surname


# --- parsing --------------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
def is_business_name(raw: str) -> bool:
    """A company's or a role's name ("ООО «Вектор»", "Автосервис"): an account several people share."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return False
    words = [fold_token(w) for w in _TOKEN_SPLIT_RE.split(text) if w]
    return _quotes_name_a_business(text) or any(w in _BUSINESS_WORDS for w in words)


@lru_cache(maxsize=_CACHE_SIZE)
def parse_name(raw: str) -> PersonName:
    """Parse a display name; never raises. See `PersonName` for what each field holds."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text or _looks_like_handle(text):
        return PersonName(raw=raw)

    folded: list[str] = []
    initials: set[str] = set()
    for piece in _TOKEN_SPLIT_RE.split(_APOSTROPHES_RE.sub("", text)):
        letters = "".join(ch for ch in piece if ch.isalpha())
        if not letters:
            continue
        token = fold_token(letters)
        if not token or token in _TITLES:
            continue
        if len(letters) == 1:
            # An initial keeps its whole folded form: "Ю." is "iu", which "Iuliia" starts with.
            initials.add(token)
        else:
            folded.append(token)

    if folded and all(t in _PLACEHOLDERS for t in folded):
        return PersonName(raw=raw)
    business = (
        _quotes_name_a_business(text)
        or any(t in _BUSINESS_WORDS for t in folded)
        or len(folded) + len(initials) > MAX_NAME_TOKENS
    )

    given: set[str] = set()
    rest: list[str] = []
    for token in folded:
        canonicals = given_canonicals(token)
        if canonicals:
            given |= canonicals
        else:
            rest.append(token)
    if business:
        # A business name says nothing about a surname, but a person's given name in it
        # ("ИП Петров Александр") is still worth comparing.
        return PersonName(raw=raw, tokens=tuple(sorted(set(folded))), given=frozenset(given))

    # Patronymics only count as such next to a given name: alone, "Petrovich" may be a surname.
    surnames = {t for t in rest if len(t) >= MIN_SURNAME_LEN and not (given and _is_patronymic(t))}
    kept = [t for t in folded if t in surnames or given_canonicals(t)]
    return PersonName(
        raw=raw,
        tokens=tuple(sorted(kept)),
        given=frozenset(given),
        surnames=frozenset(surnames),
        initials=frozenset(initials),
    )


# --- comparison -----------------------------------------------------------------------------------


def _surnames_near(a: frozenset[str], b: frozenset[str]) -> bool:
    """Some pair of surnames is a typo or a gender variant of each other."""
    for x in a:
        for y in b:
            if gender_stem(x) == gender_stem(y) or fuzz.ratio(x, y) >= SURNAME_TYPO_MIN:
                return True
    return False


def _initial_fits_surname(initials: frozenset[str], surnames: frozenset[str]) -> bool:
    return any(s.startswith(i) for i in initials for s in surnames)


def _given_letters(name: PersonName) -> frozenset[str]:
    """First letters any spelling or diminutive of the name's given names may start with."""
    letters: set[str] = {t[0] for t in name.tokens if given_canonicals(t)}
    for canonical in name.given:
        letters |= _GIVEN_LETTERS.get(canonical, frozenset())
    return frozenset(letters)


def _initial_fits_given(initials: frozenset[str], name: PersonName) -> bool:
    letters = _given_letters(name)
    return any(i[0] in letters for i in initials)


def _is_exact(a: PersonName, b: PersonName) -> bool:
    if a.tokens != b.tokens or a.initials != b.initials or not a.given:
        return False
    return bool(a.surnames) or len(a.tokens) == 1


def _initial_match(x: PersonName, y: PersonName) -> bool:
    """x abbreviates what y spells out (given name or surname), and the rest agrees."""
    if not x.initials:
        return False
    if x.given & y.given and not x.surnames and y.surnames:
        return _initial_fits_surname(x.initials, y.surnames)
    if x.surnames & y.surnames and not x.given and y.given:
        return _initial_fits_given(x.initials, y)
    return False


def _initials_clash(x: PersonName, y: PersonName) -> bool:
    """Same surname, but x's only given-name evidence is initials that fit none of y's given names."""
    return bool(
        x.initials and not x.given and y.given and x.surnames & y.surnames and not _initial_fits_given(x.initials, y)
    )


def compare_names(a: PersonName, b: PersonName) -> NameMatch:
    """How two parsed names relate; symmetric. See the module docstring for the levels."""
    if not a.usable or not b.usable:
        return NameMatch.UNKNOWN
    if _is_exact(a, b):
        return NameMatch.EXACT
    given_agree = bool(a.given & b.given)
    if given_agree and a.surnames & b.surnames:
        return NameMatch.EQUIVALENT
    if _initial_match(a, b) or _initial_match(b, a):
        return NameMatch.INITIAL

    both_surnames = bool(a.surnames and b.surnames)
    surnames_near = both_surnames and _surnames_near(a.surnames, b.surnames)
    if a.given and b.given and not given_agree:
        return NameMatch.DIFFERENT
    if given_agree and both_surnames and not surnames_near:
        return NameMatch.DIFFERENT
    if _initials_clash(a, b) or _initials_clash(b, a):
        return NameMatch.DIFFERENT

    if given_agree and surnames_near:
        return NameMatch.FUZZY
    if _fuzzy(a, b):
        return NameMatch.FUZZY
    if given_agree:
        return NameMatch.GIVEN_ONLY
    return NameMatch.UNKNOWN


def _fuzzy(a: PersonName, b: PersonName) -> bool:
    # Sharing a blocking key is required so that every FUZZY pair is found by blocking, and two
    # names whose every token differs from its first letters on are not typos of each other anyway.
    if not name_blocks(a) & name_blocks(b):
        return False
    return fuzz.token_sort_ratio(_fuzzy_key(a), _fuzzy_key(b)) >= FUZZY_MIN


def _fuzzy_key(name: PersonName) -> str:
    # Initials take part so that "Иван П." and "Иван С." are not a typo of each other.
    return " ".join((*name.tokens, *sorted(name.initials)))


def names_conflict(a: PersonName, b: PersonName) -> bool:
    """Whether two names clearly belong to different people (the merge-blocking signal)."""
    return compare_names(a, b) is NameMatch.DIFFERENT


@lru_cache(maxsize=_CACHE_SIZE)
def name_blocks(name: PersonName) -> frozenset[str]:
    """Blocking keys: usable names that could match (anything but UNKNOWN/DIFFERENT) share one.

    "g:<canonical given>", "s:<surname>" and "p:<first BLOCK_PREFIX_LEN letters>" of every token
    long enough (for typos). A name that is not usable has no keys.
    """
    if not name.usable:
        return frozenset()
    keys = {f"g:{g}" for g in name.given}
    keys |= {f"s:{s}" for s in name.surnames}
    keys |= {f"p:{t[:BLOCK_PREFIX_LEN]}" for t in name.tokens if len(t) >= BLOCK_PREFIX_LEN}
    return frozenset(keys)
