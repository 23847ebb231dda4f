"""Comparison levels of texts and names."""

from __future__ import annotations

import pytest

from core.names import NameMatch
from resolver.comparison import TextLevel, compare_name_sets, compare_text, names_disagree


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("Сколько стоит замена масла на Kia Rio?", "сколько стоит замена масла на kia rio??", TextLevel.SAME),
        # swapped letters in a subject word are a typo, not another subject
        (
            "Can I book a tyre change next week? I drive a Hyundai Solaris.",
            "Can I book a tyre change next week? I drive a Huynadi Solaris.",
            TextLevel.SAME,
        ),
        # one slot word differs: a similar question, not the same one
        ("Сколько стоит замена масла на Kia Rio?", "Сколько стоит замена колодок на Kia Rio?", TextLevel.NEAR),
        ("Актуально?", "Актуально?", TextLevel.GENERIC),
        # a note that the question is repeated says nothing about the question
        (
            "Интересует прихожая Нова, какая стоимость?",
            "Продублирую: интересует прихожая Нова, какая стоимость?",
            TextLevel.SAME,
        ),
        (
            "Добрый день. Кровать 160х200 в наличии или под заказ?",
            "Не дождался ответа, пишу сюда. Добрый день. Кровать 160х200 в наличии или под заказ?",
            TextLevel.SAME,
        ),
        (
            "Czy szafa Nova jest dostępna od ręki?",
            "Powtarzam pytanie: Czy szafa Nova jest dostępna od ręki?",
            TextLevel.SAME,
        ),
        ("How much is the oak bookshelf 180?", "Asking again! How much is the oak bookshelf 180?", TextLevel.SAME),
        # thanks in advance close a question without being part of it
        (
            "Кухонный стол раздвижной ещё продаётся? Бюджет до 116 тысяч.",
            "Добрый день! Кухонный стол раздвижной ещё продаётся? Бюджет до 116 тысяч. Заранее спасибо!",
            TextLevel.SAME,
        ),
        (
            "Is the oak bookshelf 180 still for sale? Thanks in advance",
            "Is the oak bookshelf 180 still for sale?",
            TextLevel.SAME,
        ),
        # ... and a repeated question about another thing is still another question
        ("Сколько стоит шкаф-купе 180 см?", "Еще раз: сколько стоит диван Лофт?", TextLevel.OTHER),
    ],
)
def test_text_levels(a: str, b: str, level: TextLevel) -> None:
    assert compare_text(a, b)[0] is level


@pytest.mark.parametrize(
    ("ours", "theirs", "disagree"),
    [
        (["Елена"], ["🙂 Калашникова"], False),  # a first name and a surname: halves of one name
        (["Светлана"], ["⚡ Иванова"], False),
        (["Елена Петрова"], ["Калашникова"], True),
        (["Саша"], ["Александр"], False),
    ],
)
def test_names_disagree(ours: list[str], theirs: list[str], disagree: bool) -> None:
    assert names_disagree(ours, theirs) is disagree


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (["Kot"], ["Мариша"]),
        (["Sunny"], ["Евгения Громова"]),
        (["Котик"], ["Виктор"]),
        (["Добрыня"], ["Игорь"]),  # a rare given name we do not know reads as a nickname too
    ],
)
def test_a_nickname_disagrees_only_where_asked(ours: list[str], theirs: list[str]) -> None:
    """A lone word that is neither a given name we know nor a surname says nothing about the name
    behind it; behind a typed number it still counts against a link."""
    assert not names_disagree(ours, theirs)
    assert names_disagree(ours, theirs, nicknames=True)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("Герогий", "Георгий"),  # two letters swapped
        ("Максми Медведев", "Maksim"),
        ("Соловьева Кснеия", "Ксения"),
        ("Виктоиря", "Вика"),  # the typo's name agrees with its diminutive too
    ],
)
def test_a_mistyped_given_name_agrees_with_the_name(ours: str, theirs: str) -> None:
    """People mistype their own name in a form: a word one edit from a given name we know agrees
    with that name."""
    assert compare_name_sets([ours], [theirs]) is NameMatch.GIVEN_ONLY
    assert not names_disagree([ours], [theirs])


@pytest.mark.parametrize(
    ("ours", "theirs", "level"),
    [
        ("Герогий", "Ксения", NameMatch.UNKNOWN),  # a guessed name never clashes with another
        ("Котик", "Константин", NameMatch.UNKNOWN),  # a short pet name is not read as "Котя"
        ("Марин", "Марина", NameMatch.FUZZY),  # shaped like a surname: not read as a given name
    ],
)
def test_a_typo_is_only_a_guess(ours: str, theirs: str, level: NameMatch) -> None:
    assert compare_name_sets([ours], [theirs]) is level
