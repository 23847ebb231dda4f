from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.text import (
    MIN_SPECIFIC_TOKENS,
    informative_tokens,
    is_generic_text,
    strip_repeat_note,
    text_blocks,
    text_key,
    text_similarity,
)

CONTRACT_SAMPLE = [
    "Здравствуйте! Сколько стоит замена масла на Kia Rio?",
    "здравствуйте! сколько стоит замена масла на kia rio?",
    "Сколько стоит замена масла на Kia Rio??",
    "Замена масла Kia Rio, сколько стоит?",
]
OTHER_QUESTION = "Сколько стоит шиномонтаж R16?"

SPECIFIC_TEXTS = [
    "Сколько стоит замена масла на Kia Rio?",
    "Нужна диагностика подвески Hyundai Solaris 2017 года",
    "Можно ли записаться на развал схождение в субботу утром?",
    "Продаёте ли вы зимнюю резину Nokian Hakkapeliitta 205/55 R16?",
    "Интересует диван угловой серый, есть доставка в Подольск?",
    "Стучит двигатель на холодную, Ford Focus 2 дизель",
    "Хочу заказать букет из пятнадцати белых роз к пятнице",
    "Сколько будет стоить покраска переднего бампера Toyota Camry?",
    "Please send the invoice for order 4471 to my accountant",
    "Замена ремня ГРМ на Лада Веста с вашими запчастями",
]


def test_text_key() -> None:
    assert text_key("  Ещё   продаётся?!  😊 ") == "еще продается"
    assert text_key("Kia_Rio, R16") == "kia rio r16"
    assert text_key("") == ""


def test_contract_sample_is_alike_and_specific() -> None:
    for a, b in itertools.combinations(CONTRACT_SAMPLE, 2):
        assert text_similarity(a, b) >= 85, (a, b)
    for text in CONTRACT_SAMPLE:
        assert not is_generic_text(text)
        assert text_similarity(text, OTHER_QUESTION) < 70
    assert not is_generic_text(OTHER_QUESTION)


def test_similarity_is_robust_to_typos_and_greetings() -> None:
    assert text_similarity("Добрый день! Стучит двигатель на холодную", "стучит двигатль на холодную") >= 90
    assert text_similarity("Hello, please send the invoice", "please send teh invoice!") >= 90


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # a greeting or a stock word with two letters swapped is still that word
        (
            "Подскажите стоимость тура в Сочи на декабрь на двоих",
            "Подсакжите стоимость тура в Сочи на декабрь на двоих",
        ),
        ("Есть в наличии зимняя резина R15 на Octavia?", "Дборый вечер. есть в наличии зимняя резина R15 на Octavia?"),
        ("Czy są klocki hamulcowe do Geely Coolray?", "Dizeń dobry! czy są klocki hamulcowe do Geely Coolray?"),
    ],
)
def test_swapped_letters_in_stock_words_do_not_make_another_question(a: str, b: str) -> None:
    assert text_similarity(a, b) >= 95
    assert set(informative_tokens(a)) == set(informative_tokens(b))


def test_a_short_text_is_not_similar_to_a_long_one_containing_it() -> None:
    long_text = (
        "Здравствуйте, у меня Kia Rio 2015 года, пробег 120 тысяч, нужно сделать замену масла "
        "и фильтров, а также посмотреть тормоза, когда можно приехать?"
    )
    assert text_similarity("замена масла", long_text) < 50


def test_empty_text_is_not_similar() -> None:
    assert text_similarity("", "") == 0.0
    assert text_similarity("🙂", "Kia Rio") == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "Актуально?",
        "Здравствуйте",
        "Ещё продаётся?",
        "Добрый день",
        "Hi",
        "Hello",
        "Цена?",
        "Торг уместен?",
        "Можно посмотреть?",
        "?",
        "+",
        "",
        "😊",
        "Здравствуйте, актуально? Где можно посмотреть?",
        "Добрый вечер! Ещё актуально объявление?",
        "is it still available?",
        "ок",
        "Спасибо!",
        # a nudge asks nothing new
        "Any update?",
        "Заранее благодарю!",
    ],
)
def test_generic_texts(text: str) -> None:
    assert is_generic_text(text)
    assert text_blocks(text) == frozenset()


@pytest.mark.parametrize("text", SPECIFIC_TEXTS)
def test_specific_texts(text: str) -> None:
    assert not is_generic_text(text)
    assert 0 < len(text_blocks(text)) <= 3


def test_min_specific_tokens() -> None:
    assert MIN_SPECIFIC_TOKENS >= 2


def _variant(text: str, rng: random.Random) -> str:
    words = text.split()
    i = rng.randrange(len(words))
    word = words[i]
    if len(word) > 3:
        j = rng.randrange(1, len(word))
        op = rng.choice(["delete", "swap", "insert"])
        if op == "delete":
            word = word[:j] + word[j + 1 :]
        elif op == "swap":
            word = word[: j - 1] + word[j] + word[j - 1] + word[j + 1 :]
        else:
            word = word[:j] + rng.choice("аеоиaeo") + word[j:]
    words[i] = word
    if rng.random() < 0.3:
        words.insert(0, rng.choice(["Здравствуйте!", "Добрый день,", "Привет,", "Hello,"]))
    if rng.random() < 0.3:
        k = rng.randrange(len(words))
        words.append(words.pop(k))
    out = " ".join(words)
    return out.lower() if rng.random() < 0.3 else out


def test_near_identical_texts_share_a_block() -> None:
    rng = random.Random(20240611)
    similar = shared = 0
    for _ in range(2000):
        base = rng.choice(SPECIFIC_TEXTS)
        a, b = _variant(base, rng), _variant(base, rng)
        if text_similarity(a, b) >= 90:
            similar += 1
            shared += bool(text_blocks(a) & text_blocks(b))
    assert similar > 1000
    assert shared / similar >= 0.97


def test_different_texts_rarely_share_all_blocks() -> None:
    for a, b in itertools.combinations(SPECIFIC_TEXTS, 2):
        assert text_similarity(a, b) < 80, (a, b)


@settings(max_examples=300)
@given(st.text(max_size=80), st.text(max_size=80))
def test_similarity_is_bounded_and_symmetric(a: str, b: str) -> None:
    score = text_similarity(a, b)
    assert 0.0 <= score <= 100.0
    assert score == pytest.approx(text_similarity(b, a))
    is_generic_text(a)
    text_blocks(a)


@settings(max_examples=200)
@given(st.sampled_from(SPECIFIC_TEXTS))
def test_text_is_identical_to_itself(text: str) -> None:
    assert text_similarity(text, text) == 100.0
    assert text_similarity(text, text.upper() + "!!!") == 100.0


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Продублирую: Шкаф-купе 180 см?", "шкаф купе 180 см"),
        ("Писала вам уже, продублирую. Повторю вопрос: диван Лофт почём?", "диван лофт почем"),
        ("Ещё раз - сколько стоит диван?", "сколько стоит диван"),
        ("Sent this elsewhere too: what is the price of the shelf?", "what is the price of the shelf"),
        # an opening clause that is not a repeat note stays
        ("Добрый день. Сколько стоит диван?", "добрый день сколько стоит диван"),
        # a note with nothing after it is the whole text
        ("Продублирую!", "продублирую"),
    ],
)
def test_an_opening_repeat_note_is_not_part_of_the_question(text: str, key: str) -> None:
    assert text_key(text) == key


def test_a_long_opening_clause_is_never_taken_for_a_note() -> None:
    text = "вчера писал другу про шкаф и он посоветовал вас. нужен шкаф"
    assert strip_repeat_note(text) == text
