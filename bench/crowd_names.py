"""Names as customers write them: common given names, diminutives, Latin spellings and typos.

Written from how people in Russia, Poland and English-speaking countries actually sign their chats,
independently of the resolver's own name tables, so the crowd generator does not share its assumptions.
"""

from __future__ import annotations

import random

# Common given names with the short forms people use for themselves in chats. The first short form is
# the everyday one; the rest are rarer (the rarest ones are the ones that test a resolver).
RU_MALE: dict[str, tuple[str, ...]] = {
    "Александр": ("Саша", "Саня", "Шура"),
    "Алексей": ("Лёша", "Алёша", "Лёха"),
    "Андрей": ("Андрюша",),
    "Артём": ("Тёма",),
    "Борис": ("Боря",),
    "Вадим": ("Вадик",),
    "Валерий": ("Валера",),
    "Василий": ("Вася",),
    "Виктор": ("Витя",),
    "Владимир": ("Вова", "Володя"),
    "Владислав": ("Влад", "Владик"),
    "Вячеслав": ("Слава",),
    "Геннадий": ("Гена",),
    "Георгий": ("Жора", "Гоша"),
    "Григорий": ("Гриша",),
    "Денис": ("Дэн",),
    "Дмитрий": ("Дима", "Митя"),
    "Евгений": ("Женя",),
    "Егор": ("Егорка",),
    "Иван": ("Ваня",),
    "Игорь": ("Игорёк",),
    "Илья": ("Илюша",),
    "Кирилл": ("Киря",),
    "Константин": ("Костя",),
    "Леонид": ("Лёня",),
    "Максим": ("Макс",),
    "Михаил": ("Миша",),
    "Никита": ("Никитос",),
    "Николай": ("Коля",),
    "Олег": ("Олежка",),
    "Павел": ("Паша",),
    "Пётр": ("Петя",),
    "Роман": ("Рома",),
    "Руслан": ("Русик",),
    "Семён": ("Сёма",),
    "Сергей": ("Серёжа", "Серый"),
    "Станислав": ("Стас",),
    "Степан": ("Стёпа",),
    "Тимофей": ("Тима",),
    "Фёдор": ("Федя",),
    "Юрий": ("Юра",),
    "Ярослав": ("Ярик", "Слава"),
    "Антон": ("Антоша",),
    "Даниил": ("Даня",),
    "Матвей": ("Мотя",),
}
RU_FEMALE: dict[str, tuple[str, ...]] = {
    "Александра": ("Саша", "Шура"),
    "Алина": ("Аля",),
    "Анастасия": ("Настя",),
    "Анна": ("Аня", "Анечка"),
    "Валентина": ("Валя",),
    "Валерия": ("Лера",),
    "Варвара": ("Варя",),
    "Вера": ("Верочка",),
    "Вероника": ("Ника",),
    "Виктория": ("Вика",),
    "Галина": ("Галя",),
    "Дарья": ("Даша",),
    "Евгения": ("Женя",),
    "Екатерина": ("Катя", "Катюша"),
    "Елена": ("Лена", "Леночка"),
    "Елизавета": ("Лиза",),
    "Ирина": ("Ира",),
    "Кристина": ("Крис",),
    "Ксения": ("Ксюша",),
    "Любовь": ("Люба",),
    "Людмила": ("Люда", "Мила"),
    "Марина": ("Мариша",),
    "Мария": ("Маша", "Маня"),
    "Надежда": ("Надя",),
    "Наталья": ("Наташа", "Ната"),
    "Оксана": ("Ксана",),
    "Ольга": ("Оля",),
    "Полина": ("Поля",),
    "Светлана": ("Света",),
    "Софья": ("Соня",),
    "Татьяна": ("Таня",),
    "Юлия": ("Юля",),
    "Яна": ("Яночка",),
}
PL_MALE: dict[str, tuple[str, ...]] = {
    "Aleksander": ("Olek",),
    "Andrzej": ("Jędrek",),
    "Bartłomiej": ("Bartek",),
    "Dariusz": ("Darek",),
    "Grzegorz": ("Grzesiek",),
    "Jakub": ("Kuba",),
    "Jan": ("Janek",),
    "Jerzy": ("Jurek",),
    "Józef": ("Józek",),
    "Krzysztof": ("Krzysiek",),
    "Łukasz": ("Łukasz",),
    "Marcin": ("Marcinek",),
    "Mateusz": ("Mati",),
    "Michał": ("Michał",),
    "Mirosław": ("Mirek",),
    "Paweł": ("Pawełek",),
    "Piotr": ("Piotrek",),
    "Przemysław": ("Przemek",),
    "Stanisław": ("Staszek",),
    "Tomasz": ("Tomek",),
    "Wojciech": ("Wojtek",),
    "Zbigniew": ("Zbyszek",),
}
PL_FEMALE: dict[str, tuple[str, ...]] = {
    "Agnieszka": ("Aga",),
    "Aleksandra": ("Ola",),
    "Anna": ("Ania",),
    "Barbara": ("Basia",),
    "Dominika": ("Domi",),
    "Elżbieta": ("Ela",),
    "Ewa": ("Ewka",),
    "Joanna": ("Asia",),
    "Karolina": ("Karo",),
    "Katarzyna": ("Kasia",),
    "Magdalena": ("Magda",),
    "Małgorzata": ("Gosia", "Małgosia"),
    "Maria": ("Marysia",),
    "Monika": ("Monia",),
    "Natalia": ("Natka",),
    "Weronika": ("Wera",),
    "Zofia": ("Zosia",),
}
EN_MALE: dict[str, tuple[str, ...]] = {
    "Alexander": ("Alex",),
    "Andrew": ("Andy",),
    "Anthony": ("Tony",),
    "Benjamin": ("Ben",),
    "Charles": ("Charlie", "Chuck"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "David": ("Dave",),
    "Edward": ("Ed", "Ted"),
    "James": ("Jim", "Jimmy"),
    "Jonathan": ("Jon",),
    "Joseph": ("Joe",),
    "Matthew": ("Matt",),
    "Michael": ("Mike",),
    "Nicholas": ("Nick",),
    "Richard": ("Rick", "Dick"),
    "Robert": ("Bob", "Rob", "Bobby"),
    "Samuel": ("Sam",),
    "Steven": ("Steve",),
    "Thomas": ("Tom",),
    "Timothy": ("Tim",),
    "William": ("Bill", "Will"),
}
EN_FEMALE: dict[str, tuple[str, ...]] = {
    "Abigail": ("Abby",),
    "Christina": ("Tina",),
    "Elizabeth": ("Liz", "Beth", "Betty"),
    "Jennifer": ("Jen", "Jenny"),
    "Jessica": ("Jess",),
    "Katherine": ("Kate", "Katie"),
    "Margaret": ("Maggie", "Peggy"),
    "Patricia": ("Pat", "Patty"),
    "Rebecca": ("Becky",),
    "Susan": ("Sue",),
    "Victoria": ("Vicky",),
    "Deborah": ("Debbie",),
}

SHORT_FORMS: dict[tuple[str, bool], dict[str, tuple[str, ...]]] = {
    ("ru", False): RU_MALE,
    ("ru", True): RU_FEMALE,
    ("pl", False): PL_MALE,
    ("pl", True): PL_FEMALE,
    ("en", False): EN_MALE,
    ("en", True): EN_FEMALE,
}

# How Russians spell their own name in Latin when they do not transliterate letter by letter.
RU_LATIN_HABITS: dict[str, tuple[str, ...]] = {
    "Александр": ("Alexander", "Alex", "Aleksandr"),
    "Алексей": ("Alexey", "Alex", "Aleksei"),
    "Александра": ("Alexandra", "Sasha"),
    "Михаил": ("Michael", "Mikhail", "Misha"),
    "Мария": ("Maria", "Mary", "Masha"),
    "Юлия": ("Julia", "Yulia", "Iuliia"),
    "Екатерина": ("Ekaterina", "Katerina", "Kate"),
    "Евгений": ("Evgeny", "Eugene", "Evgenii"),
    "Дмитрий": ("Dmitry", "Dmitrii", "Dima"),
    "Наталья": ("Natalia", "Natalya", "Natasha"),
    "Даниил": ("Daniel", "Daniil"),
    "Анна": ("Anna", "Ann", "Anya"),
    "Елена": ("Elena", "Helen", "Lena"),
    "Татьяна": ("Tatiana", "Tanya"),
    "Сергей": ("Sergey", "Sergei", "Serge"),
    "Андрей": ("Andrey", "Andrei", "Andrew"),
    "Иван": ("Ivan",),
    "Пётр": ("Petr", "Peter", "Pyotr"),
    "Ксения": ("Ksenia", "Kseniya", "Xenia"),
}

# Letter-by-letter schemes people use: the passport's (ICAO), the "common" one and a loose keyboard one.
_BASE = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "з": "z", "и": "i", "к": "k", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "ч": "ch",
    "ш": "sh", "ы": "y", "э": "e", "ж": "zh",
}  # fmt: skip
_SCHEMES: dict[str, dict[str, str]] = {
    "passport": {**_BASE, "ё": "e", "й": "i", "х": "kh", "ц": "ts", "щ": "shch", "ь": "", "ъ": "ie", "ю": "iu",
                 "я": "ia"},
    "common": {**_BASE, "ё": "yo", "й": "y", "х": "kh", "ц": "ts", "щ": "sch", "ь": "", "ъ": "", "ю": "yu",
               "я": "ya"},
    "loose": {**_BASE, "ё": "e", "й": "j", "х": "h", "ц": "c", "щ": "sh", "ь": "", "ъ": "", "ю": "ju", "я": "ja",
              "ы": "i"},
}  # fmt: skip
_PL_PLAIN = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")


def is_cyrillic(text: str) -> bool:
    return any("а" <= ch.lower() <= "я" or ch in "ёЁ" for ch in text)


def latin(word: str, rng: random.Random, *, scheme: str | None = None) -> str:
    """`word` as its owner would type it on a Latin keyboard."""
    if not is_cyrillic(word):
        return word.translate(_PL_PLAIN)
    table = _SCHEMES[scheme or rng.choice(("passport", "common", "common", "loose"))]
    out: list[str] = []
    for i, ch in enumerate(word):
        low = ch.lower()
        piece = table.get(low, low)
        # "е" at the start of a word is often written "ye" (Yelena, Yevgeny) in the common scheme.
        if low == "е" and i == 0 and table is _SCHEMES["common"] and rng.random() < 0.3:
            piece = "ye"
        out.append(piece.capitalize() if ch.isupper() else piece)
    return "".join(out)


def latin_given(given: str, rng: random.Random) -> str:
    """A Russian given name in Latin: a habitual spelling when there is one, else transliterated."""
    habits = RU_LATIN_HABITS.get(given)
    if habits and rng.random() < 0.7:
        return rng.choice(habits)
    return latin(given, rng)


def typo(word: str, rng: random.Random) -> str:
    """One slip of the finger: a dropped, doubled or swapped letter (never the first letter)."""
    if len(word) < 4:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "double", "swap"))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[: i + 1] + word[i] + word[i + 1 :]
    swapped = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return swapped if swapped != word else word[:i] + word[i + 1 :]


def short_form(given: str, lang: str, female: bool, rng: random.Random) -> str:
    """A diminutive the person uses, mostly the everyday one; the full name when there is none."""
    forms = SHORT_FORMS[(lang, female)].get(given)
    if not forms:
        return given
    return forms[0] if len(forms) == 1 or rng.random() < 0.7 else rng.choice(forms[1:])


def surname_for(surname: str, lang: str, female: bool) -> str:
    """A relative's surname in the other gender (Петров → Петрова, Kowalski → Kowalska)."""
    if lang == "ru":
        if female and surname.endswith(("ов", "ев", "ин", "ын")):
            return surname + "а"
        if female and surname.endswith("ий"):
            return surname[:-2] + "ая"
        if not female and surname.endswith(("ова", "ева", "ина", "ына")):
            return surname[:-1]
        if not female and surname.endswith("ая"):
            return surname[:-2] + "ий"
    if lang == "pl":
        if female and surname.endswith("ski"):
            return surname[:-1] + "a"
        if female and surname.endswith("cki"):
            return surname[:-1] + "a"
        if not female and surname.endswith(("ska", "cka")):
            return surname[:-1] + "i"
    return surname
