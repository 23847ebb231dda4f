"""What customers of a furniture workshop write: questions, rewordings, follow-ups, template texts."""

from __future__ import annotations

import random
from dataclasses import dataclass

# The workshop's catalogue as each language's customers name it; Avito listings use the Russian one.
ITEMS: dict[str, tuple[str, ...]] = {
    "ru": (
        "диван Лофт",
        "угловой диван Венеция",
        "шкаф-купе 180 см",
        "кровать 160х200",
        "матрас Ортопед 160",
        "кухонный стол раздвижной",
        "комод на 4 ящика",
        "стеллаж из массива",
        "тумба под ТВ",
        "кресло-кровать",
        "детская двухъярусная кровать",
        "обеденная группа",
        "прихожая Нова",
        "письменный стол",
        "барные стулья",
        "шкаф в прихожую",
        "кухня на заказ",
        "пуф с ящиком",
    ),
    "pl": (
        "sofa Loft",
        "narożnik Wenecja",
        "szafa przesuwna 180",
        "łóżko 160x200",
        "komoda z 4 szufladami",
        "stół rozkładany",
        "regał z litego drewna",
        "fotel rozkładany",
    ),
    "en": (
        "Loft sofa",
        "corner sofa",
        "sliding wardrobe 180",
        "160x200 bed",
        "chest of drawers",
        "extendable dining table",
        "solid wood shelf",
        "sofa bed",
    ),
}

# Questions by kind; several wordings each, so a customer repeating themselves can reword.
QUESTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "ru": {
        "price": (
            "Сколько стоит {item}?",
            "Какая цена на {item}?",
            "Подскажите, {item} сколько стоит?",
            "{item} — цена актуальна?",
            "А {item} почём?",
            "Интересует {item}, какая стоимость?",
        ),
        "stock": (
            "{item} есть в наличии?",
            "Есть в наличии {item}?",
            "{item} ещё продаётся?",
            "Актуально ещё? {item}",
            "А {item} в наличии или под заказ?",
        ),
        "delivery": (
            "Есть доставка? Хотим заказать {item}",
            "{item} — сколько будет стоить доставка?",
            "Доставите {item} на {day}?",
            "Можно {item} с доставкой и сборкой?",
        ),
        "color": (
            "{item} есть в сером цвете?",
            "{item} — какие цвета есть?",
            "Можно {item} другого цвета, {color}?",
            "Интересует {item}, цвет {color} есть?",
        ),
        "terms": (
            "{item} — сколько делаете по времени?",
            "За сколько дней изготовите? Интересует {item}",
            "{item}: какой срок изготовления?",
        ),
        "credit": (
            "{item} можно в рассрочку?",
            "Рассрочка есть? Хочу {item}",
            "Интересует {item}, можно в рассрочку?",
        ),
    },
    "pl": {
        "price": ("Ile kosztuje {item}?", "Jaka jest cena za {item}?", "{item} - jaka cena?"),
        "stock": ("Czy {item} jest dostępna?", "{item} - jest na stanie?", "Czy {item} jest jeszcze aktualna?"),
        "delivery": ("Czy jest dostawa? Chodzi o {item}", "Ile kosztuje dostawa, {item}?"),
        "color": ("Czy {item} jest w kolorze szarym?", "Jakie kolory ma {item}?"),
    },
    "en": {
        "price": ("How much is the {item}?", "What's the price of the {item}?", "{item} - how much?"),
        "stock": ("Is the {item} available?", "Do you have the {item} in stock?", "Is the {item} still for sale?"),
        "delivery": ("Do you deliver? Looking at the {item}", "How much is delivery for the {item}?"),
        "color": ("Does the {item} come in grey?", "What colours does the {item} come in?"),
    },
}

GREETINGS: dict[str, tuple[str, ...]] = {
    "ru": ("", "", "Здравствуйте! ", "Добрый день. ", "Добрый день! ", "Привет) ", "Добрый вечер, ", "Здравствуйте, "),
    "pl": ("", "Dzień dobry, ", "Witam, ", "Cześć! "),
    "en": ("", "Hi, ", "Hello! ", "Good afternoon, "),
}
SIGN_OFFS: dict[str, tuple[str, ...]] = {
    "ru": ("", "", "", " Спасибо", " Жду ответа", ")", " Заранее спасибо!"),
    "pl": ("", "", " Dziękuję", " Pozdrawiam"),
    "en": ("", "", " Thanks", " Thank you!"),
}

# Texts many different people send: a resolver must not link them on the text alone.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "ru": (
        "Сколько стоит?",
        "Есть в наличии?",
        "Здравствуйте",
        "Добрый день",
        "Актуально?",
        "Цена?",
        "Ещё продаёте?",
        "Можно фото?",
        "Где вы находитесь?",
        "Какой адрес?",
        "Вы сегодня работаете?",
        "Доставка есть?",
        "Здравствуйте! Сколько стоит?",
        "Добрый день, актуально?",
        "Здравствуйте, ещё в наличии?",
    ),
    "pl": ("Dzień dobry", "Ile kosztuje?", "Czy jest dostępne?", "Aktualne?", "Dzień dobry, aktualne?"),
    "en": ("Hi", "How much?", "Is it available?", "Still available?", "Hello"),
}

FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "ru": (
        "Ау",
        "Есть кто?",
        "Ответьте пожалуйста",
        "?",
        "Жду ответа",
        "Можно фото?",
        "А доставка сколько?",
        "Хорошо, спасибо",
        "Понял, подумаю",
        "Поняла, спасибо",
        "А скидка будет?",
        "Перезвоните мне пожалуйста",
        "Когда можно приехать посмотреть?",
    ),
    "pl": ("Halo?", "Czekam na odpowiedź", "Dziękuję", "Można zdjęcie?"),
    "en": ("Hello?", "Any update?", "Thanks", "Can you send a photo?"),
}

# Why someone writes to a second channel; prefixed to a copied question.
DUPLICATE_NOTES: dict[str, tuple[str, ...]] = {
    "ru": ("Продублирую: ", "Не дождался ответа, пишу сюда. ", "Писала вам уже, продублирую. ", "Повторю вопрос: "),
    "pl": ("Powtarzam pytanie: ",),
    "en": ("Sent this elsewhere too: ",),
}

COLORS = ("бежевый", "графит", "зелёный", "синий", "белый")
DAYS = ("субботу", "завтра", "пятницу", "выходные", "понедельник")

JUNK_TEXTS = ("test", "тест", "проверка", "ааа", "ываыва", "123", "asdf", ".", "привет")
JUNK_NAMES = ("test", "тест", "asdf", "ййй", "Иван", "123", "qwerty", ".")


# What makes a question someone's own: sizes, places, budgets. About half of the questions carry one.
DETAILS: dict[str, tuple[str, ...]] = {
    "ru": (
        "Нужна ширина {n} см.",
        "Нам в {district} район.",
        "Бюджет до {k} тысяч.",
        "Нужно {q} шт.",
        "Для дачи.",
        "Для детской, ребёнку {age} лет.",
        "Проём {n} на {m} см.",
        "Переезжаем {date}, надо успеть.",
        "Видел у вас на сайте за {k} {h}00.",
        "Этаж {floor}, лифт есть.",
    ),
    "pl": ("Szerokość {n} cm.", "Budżet do {k} tys. zł.", "Potrzebuję {q} szt.", "Mieszkam na {floor} piętrze."),
    "en": ("I need it {n} cm wide.", "Budget up to {k}k.", "Need {q} of them.", "Moving in on the {age}th."),
}
DISTRICTS = ("Заречный", "Центральный", "Ленинский", "Октябрьский", "Северный", "Индустриальный")
DATES = ("в конце месяца", "15-го", "через две недели", "к 1 числу", "на следующей неделе")


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    """What one inquiry is about: the same topic gives the rewordings of one question."""

    lang: str
    kind: str
    item: str
    detail: str


def topic(lang: str, rng: random.Random) -> Topic:
    kinds = QUESTIONS[lang]
    # Price and availability are most of what people ask first.
    weights = [5 if k in ("price", "stock") else 2 for k in kinds]
    kind = rng.choices(list(kinds), weights=weights)[0]
    detail = ""
    if rng.random() < 0.5:
        detail = rng.choice(DETAILS[lang]).format(
            n=rng.randrange(60, 260, 5),
            m=rng.randrange(180, 260, 5),
            district=rng.choice(DISTRICTS),
            k=rng.randint(15, 150),
            h=rng.randint(1, 9),
            q=rng.randint(2, 8),
            age=rng.randint(3, 16),
            date=rng.choice(DATES),
            floor=rng.randint(2, 16),
        )
    return Topic(lang=lang, kind=kind, item=rng.choice(ITEMS[lang]), detail=detail)


def phrase(about: Topic, rng: random.Random) -> str:
    """One wording of the question, bare."""
    body = rng.choice(QUESTIONS[about.lang][about.kind]).format(
        item=about.item, day=rng.choice(DAYS), color=rng.choice(COLORS)
    )
    body = body[0].upper() + body[1:]
    return f"{body} {about.detail}" if about.detail else body


def dress(body: str, lang: str, rng: random.Random) -> str:
    """The bare question with a greeting and a sign-off, or without."""
    head = rng.choice(GREETINGS[lang])
    if head.endswith(", "):
        body = body[0].lower() + body[1:]
    return head + body + rng.choice(SIGN_OFFS[lang])


def question(about: Topic, rng: random.Random) -> str:
    return dress(phrase(about, rng), about.lang, rng)


def repeat(first: str, body: str, about: Topic, rng: random.Random) -> str:
    """The same question on another channel: copied, copied carelessly, re-dressed, reworded, with a note."""
    roll = rng.random()
    if roll < 0.35:
        return first
    if roll < 0.55:
        careless = first.lower() if rng.random() < 0.5 else first.rstrip("?!.) ")
        return careless + ("??" if rng.random() < 0.3 else "")
    if roll < 0.75:
        return dress(body, about.lang, rng)
    if roll < 0.9:
        return question(about, rng)
    return rng.choice(DUPLICATE_NOTES[about.lang]) + first


def follow_up(lang: str, rng: random.Random) -> str:
    return rng.choice(FOLLOW_UPS[lang])


def template(lang: str, rng: random.Random) -> str:
    return rng.choice(TEMPLATES[lang])
