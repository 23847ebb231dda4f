from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.names import (
    FUZZY_MIN,
    NameMatch,
    PersonName,
    compare_names,
    fold_token,
    gender_stem,
    name_blocks,
    names_conflict,
    parse_name,
)


def cmp(a: str, b: str) -> NameMatch:
    return compare_names(parse_name(a), parse_name(b))


# --- folding and parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [
        ("Александр", "Aleksandr"),
        ("Юлия", "Julia"),
        ("Юлия", "Yulia"),
        ("Наталья", "Natalya"),
        ("Наталья", "Natalia"),
        ("Щукин", "Shukin"),
        ("Хабибуллин", "Habibullin"),
        ("Ксения", "Xenia"),
        ("Дмитрий", "Dmitry"),
        ("Алексей", "Alexey"),
        ("Андрей", "Andrey"),
        ("Ёлкин", "Elkin"),
        ("Елена", "Yelena"),
        ("Евгений", "Yevgeny"),
        ("Яна", "Jana"),
        ("Подъячев", "Podyachev"),
        # "ё" written as "io"/"yo"
        ("Игорёк", "Igoriok"),
        ("Серёжа", "Seryozha"),
        ("Соловьёв", "Soloviov"),
        ("Фёдор", "Fiodor"),
    ],
)
def test_cyrillic_and_latin_fold_alike(cyrillic: str, latin: str) -> None:
    assert fold_token(cyrillic) == fold_token(latin)


def test_fold_drops_digits_and_punctuation() -> None:
    assert fold_token("Ivan1985!") == "ivan"
    assert fold_token("Анна") == fold_token("Ana")  # double letters collapse


def test_parse_maps_diminutives_to_canonical_given_names() -> None:
    assert parse_name("Александр Петров").given == {"aleksandr"}
    assert parse_name("Alexander Petrov").given == {"aleksandr"}
    assert parse_name("Саша").given == {"aleksandr", "aleksandra"}
    assert parse_name("Женя").given == {"evgeni", "evgenia"}
    assert parse_name("Alexander Petrov").surnames == {"petrov"}


def test_parse_drops_patronymics_and_sorts_tokens() -> None:
    name = parse_name("Петров Александр Сергеевич")
    assert name.tokens == ("aleksandr", "petrov")
    assert name.surnames == {"petrov"}
    assert parse_name("Иванова Мария Ивановна").surnames == {"ivanova"}


def test_patronymic_alone_is_kept_as_a_surname() -> None:
    assert parse_name("Петрович").surnames == {"petrovich"}


def test_parse_initials() -> None:
    assert parse_name("Петров А.Б.").initials == {"a", "b"}
    assert parse_name("Александр П.").initials == {"p"}
    assert parse_name("Юрий Ю.").initials == {"iu"}


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "🔥🔥",
        "12345",
        "sasha_p",
        "@ivan",
        "Автосервис «Мотор»",
        "ООО Ромашка",
        "Auto Service",
        "https://example.com",
        "Шиномонтаж",
        "Магазин запчастей",
        "Кто-то из очень длинной фразы вот",
        # what a marketplace shows for an account without a name
        "Пользователь",
        "Покупатель",
        "Частное лицо",
    ],
)
def test_not_a_personal_name(raw: str) -> None:
    name = parse_name(raw)
    assert not name.usable
    assert name_blocks(name) == frozenset()
    assert cmp(raw, "Иван Петров") is NameMatch.UNKNOWN


def test_business_keeps_a_given_name_only() -> None:
    name = parse_name("ИП Петров Александр")
    assert name.given == {"aleksandr"}
    assert name.surnames == frozenset()
    assert cmp("ИП Петров Александр", "Александр Сидоров") is NameMatch.GIVEN_ONLY


def test_emoji_around_a_name_is_ignored() -> None:
    assert cmp("🔥Иван🔥 Петров 😎", "Иван Петров") is NameMatch.EXACT


# --- comparison ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # exact: word order, script, patronymic, ё, case
        ("Петров Александр", "Александр Петров", NameMatch.EXACT),
        ("Aleksandr Petrov", "Александр Петров", NameMatch.EXACT),
        ("Александр Сергеевич Петров", "ПЕТРОВ александр", NameMatch.EXACT),
        ("Иван", "Ivan", NameMatch.EXACT),
        ("Дмитрий", "Дмитриий", NameMatch.EXACT),
        ("Пётр Ёлкин", "Петр Елкин", NameMatch.EXACT),
        # equivalent: diminutives and other-language spellings, both ways
        ("Саша Петров", "Alexander Petrov", NameMatch.EQUIVALENT),
        ("Alexander Petrov", "Саша Петров", NameMatch.EQUIVALENT),
        ("Дима Соколов", "Dmitry Sokolov", NameMatch.EQUIVALENT),
        ("Катя Смирнова", "Екатерина Смирнова", NameMatch.EQUIVALENT),
        ("Kasia Nowak", "Katarzyna Nowak", NameMatch.EQUIVALENT),
        ("Tomek Wiśniewski", "Tomasz Wisniewski", NameMatch.EQUIVALENT),
        ("Gosia Kowalska", "Małgorzata Kowalska", NameMatch.EQUIVALENT),
        ("Kuba Zieliński", "Jakub Zielinski", NameMatch.EQUIVALENT),
        ("Tom Smith", "Thomas Smith", NameMatch.EQUIVALENT),
        ("Igoriok Zhdanov", "Игорь Жданов", NameMatch.EQUIVALENT),
        ("Bill Gates", "William Gates", NameMatch.EQUIVALENT),
        ("Liz Taylor", "Elizabeth Taylor", NameMatch.EQUIVALENT),
        ("Mike Smith", "Михаил Смит", NameMatch.EQUIVALENT),
        ("Пётр Иванов", "Peter Ivanov", NameMatch.EQUIVALENT),
        # initials
        ("Александр П.", "Петров Александр", NameMatch.INITIAL),
        ("А. Петров", "Alexander Petrov", NameMatch.INITIAL),
        ("Петров А.С.", "Александр Петров", NameMatch.INITIAL),
        ("С. Петров", "Alexander Petrov", NameMatch.INITIAL),  # "С." may be "Саша"
        # typos and gender variants
        ("Алексанр Петров", "Александр Петров", NameMatch.FUZZY),
        ("Алексанр", "Александр", NameMatch.FUZZY),
        ("Иван Петроф", "Иван Петров", NameMatch.FUZZY),
        ("Иван Петров", "Иван Петрова", NameMatch.FUZZY),
        ("Jan Kowalski", "Jan Kowalska", NameMatch.FUZZY),
        # given only
        ("Sasha", "Александр Петров", NameMatch.GIVEN_ONLY),
        ("Alexander", "Sasha", NameMatch.GIVEN_ONLY),
        ("Иван", "Иван Сидоров", NameMatch.GIVEN_ONLY),
        ("Иван П.", "Иван Сидоров", NameMatch.GIVEN_ONLY),  # the initial may be a patronymic's
        ("Иван П.", "Иван С.", NameMatch.GIVEN_ONLY),
        ("Tom", "Thomas", NameMatch.GIVEN_ONLY),
        # namesakes and clear disagreement
        ("Ирина", "Дмитрий", NameMatch.DIFFERENT),
        ("Иван Петров", "Иван Сидоров", NameMatch.DIFFERENT),
        ("Ivan Ivanov", "Ivan Petrov", NameMatch.DIFFERENT),
        ("Иван Петров", "Мария Петрова", NameMatch.DIFFERENT),
        ("Александр Петров", "Александра Петрова", NameMatch.DIFFERENT),
        ("Б. Петров", "Alexander Petrov", NameMatch.DIFFERENT),
        ("Tom Smith", "Thomas Jones", NameMatch.DIFFERENT),
        # too little to say either way
        ("Петров", "Иван Петров", NameMatch.UNKNOWN),
        ("Петров", "Сидоров", NameMatch.UNKNOWN),
        ("Сидорова", "Ирина Петрова", NameMatch.UNKNOWN),
    ],
)
def test_compare_names(a: str, b: str, expected: NameMatch) -> None:
    assert cmp(a, b) is expected
    assert cmp(b, a) is expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Alexander", "Sasha"),
        ("Александр", "Шура"),
        ("Евгения", "Женя"),
        ("Дмитрий", "Дмитриий"),
        ("Alexandra Ivanova", "Саша Иванова"),
        ("Sasha_p", "Ирина"),
        ("Петров", "Сидоров"),
        ("Иван П.", "Иван Сидоров"),
        ("Иван Петров", "Иван Петрова"),
        ("Лёлик", "Алексей"),
    ],
)
def test_names_that_must_not_conflict(a: str, b: str) -> None:
    assert not names_conflict(parse_name(a), parse_name(b))


def test_names_conflict_is_different() -> None:
    assert names_conflict(parse_name("Ирина"), parse_name("Дмитрий"))


def test_gender_stem() -> None:
    assert gender_stem("petrova") == "petrov"
    assert gender_stem(fold_token("Высоцкая")) == fold_token("Высоцкий")
    assert gender_stem(fold_token("Kowalska")) == fold_token("Kowalski")


def test_name_blocks_keys() -> None:
    blocks = name_blocks(parse_name("Александр Петров"))
    assert {"g:aleksandr", "s:petrov"} <= blocks
    assert name_blocks(parse_name("Саша")) & blocks


def test_fuzzy_min_is_documented_range() -> None:
    assert 85 <= FUZZY_MIN <= 92


# --- properties ---------------------------------------------------------------------------------

_GIVEN = [
    "Александр",
    "Alexander",
    "Саша",
    "Sasha",
    "Шура",
    "Александра",
    "Иван",
    "Ivan",
    "Ваня",
    "John",
    "Дмитрий",
    "Дима",
    "Dmitry",
    "Екатерина",
    "Катя",
    "Kate",
    "Kasia",
    "Ирина",
    "Ира",
    "Thomas",
    "Tom",
    "Tomek",
    "Мария",
    "Маша",
    "Mary",
    "Женя",
    "Евгений",
    "Евгения",
    "Ермолай",
    "Алексей",
    "Лёша",
]
_SURNAMES = [
    "Петров",
    "Петрова",
    "Petrov",
    "Сидоров",
    "Sidorov",
    "Kowalski",
    "Kowalska",
    "Smith",
    "Иванов",
    "Ivanov",
    "Высоцкий",
    "Высоцкая",
    "Ким",
    "Nowak",
    "Петрович",
]
_INITIALS = ["А.", "П.", "С.", "И.", "K.", "Ю."]


def _typo(word: str, data: st.DataObject) -> str:
    if len(word) < 4 or not data.draw(st.booleans()):
        return word
    i = data.draw(st.integers(1, len(word) - 1))
    kind = data.draw(st.sampled_from(["delete", "insert", "replace", "swap"]))
    letter = data.draw(st.sampled_from("аеоиaeio"))
    if kind == "delete":
        return word[:i] + word[i + 1 :]
    if kind == "insert":
        return word[:i] + letter + word[i:]
    if kind == "replace":
        return word[:i] + letter + word[i + 1 :]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


@st.composite
def realistic_names(draw: st.DrawFn) -> str:
    data = draw(st.data())
    parts: list[str] = []
    if draw(st.booleans()):
        parts.append(_typo(draw(st.sampled_from(_GIVEN)), data))
    else:
        parts.append(draw(st.sampled_from(_INITIALS)))
    if draw(st.booleans()):
        parts.append(_typo(draw(st.sampled_from(_SURNAMES)), data))
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from(_INITIALS)))
    return " ".join(draw(st.permutations(parts)))


_MATCHING = {NameMatch.EXACT, NameMatch.EQUIVALENT, NameMatch.INITIAL, NameMatch.FUZZY, NameMatch.GIVEN_ONLY}


@settings(max_examples=400)
@given(st.text(max_size=40))
def test_parse_name_never_raises(raw: str) -> None:
    name = parse_name(raw)
    assert isinstance(name, PersonName)
    assert list(name.tokens) == sorted(name.tokens)
    assert all(len(s) >= 2 for s in name.surnames)


@settings(max_examples=400)
@given(st.one_of(realistic_names(), st.text(max_size=30)), st.one_of(realistic_names(), st.text(max_size=30)))
def test_compare_names_is_symmetric(a: str, b: str) -> None:
    pa, pb = parse_name(a), parse_name(b)
    assert compare_names(pa, pb) is compare_names(pb, pa)
    assert names_conflict(pa, pb) == (compare_names(pa, pb) is NameMatch.DIFFERENT)


@settings(max_examples=1000)
@given(st.one_of(realistic_names(), st.text(max_size=30)), st.one_of(realistic_names(), st.text(max_size=30)))
def test_compatible_names_share_a_block(a: str, b: str) -> None:
    pa, pb = parse_name(a), parse_name(b)
    if compare_names(pa, pb) in _MATCHING:
        assert pa.usable and pb.usable
        assert name_blocks(pa) & name_blocks(pb)


@settings(max_examples=300)
@given(realistic_names())
def test_a_name_matches_itself(raw: str) -> None:
    name = parse_name(raw)
    if name.usable:
        assert compare_names(name, name) in _MATCHING


def test_a_quoted_nickname_is_not_a_business() -> None:
    assert cmp('Иван "Ваня" Петров', "Иван Петров") is NameMatch.EQUIVALENT
    assert not parse_name('ООО "Ромашка"').usable
    assert not parse_name('Мотор"').usable
