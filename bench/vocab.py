"""Word lists for the traffic generator: popular names, diminutives, question templates.

Faker's own ru_RU first-name list is uniform over rare names (Филарет, Олимпиада), which would make
namesakes and diminutives far rarer than in real traffic, so most first names come from the popular
lists here and only the rest from Faker.
"""

from __future__ import annotations

from collections.abc import Mapping

RU = "ru_RU"
PL = "pl_PL"
EN = "en_US"

# Popular first names and the short forms people actually put in messenger profiles.
DIMINUTIVES: Mapping[str, tuple[str, ...]] = {
    # ru, male
    "Александр": ("Саша", "Шура", "Алекс"),
    "Алексей": ("Лёша", "Алёша", "Леха"),
    "Андрей": ("Андрюша", "Дрюня"),
    "Артём": ("Тёма",),
    "Владимир": ("Вова", "Володя"),
    "Дмитрий": ("Дима", "Митя"),
    "Евгений": ("Женя",),
    "Иван": ("Ваня",),
    "Максим": ("Макс",),
    "Михаил": ("Миша",),
    "Николай": ("Коля",),
    "Павел": ("Паша",),
    "Сергей": ("Серёжа", "Серега"),
    "Виктор": ("Витя",),
    "Константин": ("Костя",),
    "Роман": ("Рома",),
    "Игорь": ("Игорёк",),
    "Олег": ("Олежка",),
    "Денис": ("Дэн",),
    "Никита": ("Никитос",),
    # ru, female
    "Анастасия": ("Настя",),
    "Анна": ("Аня", "Анюта"),
    "Екатерина": ("Катя", "Катюша"),
    "Елена": ("Лена", "Алёна"),
    "Мария": ("Маша", "Маруся"),
    "Наталья": ("Наташа",),
    "Ольга": ("Оля",),
    "Светлана": ("Света",),
    "Татьяна": ("Таня",),
    "Юлия": ("Юля",),
    "Ирина": ("Ира",),
    "Ксения": ("Ксюша",),
    "Дарья": ("Даша",),
    "Виктория": ("Вика",),
    "Евгения": ("Женя",),
    "Александра": ("Саша",),
    # pl
    "Aleksander": ("Olek",),
    "Katarzyna": ("Kasia",),
    "Małgorzata": ("Gosia",),
    "Tomasz": ("Tomek",),
    "Krzysztof": ("Krzysiek",),
    "Agnieszka": ("Aga",),
    "Piotr": ("Piotrek",),
    "Magdalena": ("Magda",),
    "Wojciech": ("Wojtek",),
    "Joanna": ("Asia",),
    # en
    "William": ("Bill", "Will"),
    "Robert": ("Bob", "Rob"),
    "Elizabeth": ("Liz", "Beth"),
    "Michael": ("Mike",),
    "James": ("Jim", "Jimmy"),
    "Katherine": ("Kate", "Kathy"),
    "Jennifer": ("Jen",),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
}

POPULAR_FIRST: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # (male, female)
    RU: (
        (
            "Александр",
            "Алексей",
            "Андрей",
            "Артём",
            "Владимир",
            "Дмитрий",
            "Евгений",
            "Иван",
            "Максим",
            "Михаил",
            "Николай",
            "Павел",
            "Сергей",
            "Виктор",
            "Константин",
            "Роман",
            "Игорь",
            "Олег",
            "Денис",
            "Никита",
        ),
        (
            "Анастасия",
            "Анна",
            "Екатерина",
            "Елена",
            "Мария",
            "Наталья",
            "Ольга",
            "Светлана",
            "Татьяна",
            "Юлия",
            "Ирина",
            "Ксения",
            "Дарья",
            "Виктория",
            "Евгения",
            "Александра",
        ),
    ),
    PL: (
        ("Aleksander", "Tomasz", "Krzysztof", "Piotr", "Wojciech", "Marcin", "Paweł", "Jakub", "Michał"),
        ("Katarzyna", "Małgorzata", "Agnieszka", "Magdalena", "Joanna", "Anna", "Monika", "Ewa"),
    ),
    EN: (
        ("William", "Robert", "Michael", "James", "Christopher", "Daniel", "John", "David"),
        ("Elizabeth", "Katherine", "Jennifer", "Emily", "Sarah", "Jessica", "Ashley"),
    ),
}

# Latin spellings people choose themselves; anything missing goes through unidecode.
LATIN_SPELLING: Mapping[str, str] = {
    "Александр": "Alexander",
    "Алексей": "Alexey",
    "Дмитрий": "Dmitry",
    "Сергей": "Sergey",
    "Евгений": "Evgeny",
    "Юлия": "Julia",
    "Мария": "Maria",
    "Наталья": "Natalia",
    "Татьяна": "Tatiana",
    "Ксения": "Ksenia",
    "Дарья": "Daria",
    "Артём": "Artem",
    "Михаил": "Mikhail",
    "Саша": "Sasha",
    "Лёша": "Lesha",
    "Серёжа": "Serezha",
    "Тёма": "Tema",
    "Ксюша": "Ksusha",
    "Наташа": "Natasha",
    "Игорь": "Igor",
    "Никита": "Nikita",
    "Екатерина": "Ekaterina",
}

# Names shared by many people: namesake groups draw from these.
COMMON_FULL_NAMES: tuple[tuple[str, str, bool], ...] = (
    # (first, last, female)
    ("Александр", "Петров", False),
    ("Иван", "Иванов", False),
    ("Сергей", "Смирнов", False),
    ("Дмитрий", "Кузнецов", False),
    ("Андрей", "Попов", False),
    ("Алексей", "Соколов", False),
    ("Анна", "Смирнова", True),
    ("Елена", "Иванова", True),
    ("Ольга", "Кузнецова", True),
    ("Мария", "Попова", True),
)
COMMON_FIRST_ONLY: tuple[tuple[str, bool], ...] = (
    ("Иван", False),
    ("Александр", False),
    ("Сергей", False),
    ("Анна", True),
    ("Елена", True),
)

BUSINESS_NAME = "Автосервис «Мотор»"
COMPANIES: tuple[str, ...] = (
    "ООО «Вектор»",
    "ООО «СтройМир»",
    "ИП Соколов",
    "ООО «ТрансЛогистик»",
    "АО «Гранит»",
    "ООО «Альфа Сервис»",
    "ООО «Северный ветер»",
    "ООО «Техноплюс»",
)

CARS: tuple[str, ...] = (
    "Kia Rio",
    "Hyundai Solaris",
    "Lada Vesta",
    "Lada Granta",
    "Toyota Camry",
    "VW Polo",
    "Skoda Octavia",
    "Renault Logan",
    "Nissan Qashqai",
    "Mazda 6",
    "Ford Focus",
    "BMW X5",
    "Haval Jolion",
    "Chery Tiggo 7",
    "Toyota RAV4",
    "Kia Sportage",
    "Geely Coolray",
    "Mitsubishi Outlander",
)
SERVICES_RU: tuple[str, ...] = (
    "замена масла",
    "замена колодок",
    "развал-схождение",
    "диагностика подвески",
    "шиномонтаж",
    "замена ремня ГРМ",
    "заправка кондиционера",
    "замена свечей",
    "компьютерная диагностика",
    "замена сцепления",
    "замена антифриза",
    "ремонт стартера",
)
PARTS_RU: tuple[str, ...] = (
    "тормозные колодки",
    "масляный фильтр",
    "аккумулятор 60Ач",
    "летние шины 205/55 R16",
    "зимняя резина R15",
    "свечи зажигания",
    "щётки стеклоочистителя",
    "салонный фильтр",
)
PRODUCTS_RU: tuple[str, ...] = (
    "детская коляска",
    "велосипед Stels",
    "угловой диван",
    "iPhone 13 128GB",
    "холодильник Atlant",
    "офисное кресло",
    "шкаф-купе",
    "PlayStation 5",
    "стиральная машина LG",
    "комод из массива",
)
CITIES_RU: tuple[str, ...] = (
    "Москву",
    "Казань",
    "Екатеринбург",
    "Тверь",
    "Подольск",
    "Химки",
    "Тулу",
    "Рязань",
)
TOURS_RU: tuple[str, ...] = ("Турцию", "Египет", "Сочи", "Абхазию", "Калининград", "Дагестан", "ОАЭ")
MONTHS_RU: tuple[str, ...] = ("ноябрь", "декабрь", "новогодние праздники", "январь", "март", "май")
WHEN_RU: tuple[str, ...] = (
    "завтра",
    "в субботу",
    "сегодня после 18",
    "на следующей неделе",
    "в понедельник утром",
    "в пятницу",
)

TEMPLATES_RU: tuple[str, ...] = (
    "Сколько стоит {service} на {car}?",
    "{service} {when} — можно записаться? У меня {car}.",
    "Есть в наличии {part} на {car}?",
    "Сколько по времени займёт {service} на {car}?",
    "{product} ещё в наличии? Какая цена?",
    "Есть доставка в {city}? Интересует {product}",
    "Подскажите стоимость тура в {tour} на {month} на двоих",
    "Добрый день, интересует {product}, можно посмотреть {when}?",
    "Интересует {service} на {car}, когда можно подъехать?",
)
TEMPLATES_EN: tuple[str, ...] = (
    "How much is an oil change for a {car}?",
    "Can I book a tyre change {when}? I drive a {car}.",
    "Do you have brake pads for {car} in stock?",
    "Is the {car} diagnostics available {when}?",
)
TEMPLATES_PL: tuple[str, ...] = (
    "Ile kosztuje wymiana oleju w {car}?",
    "Czy mogę umówić się na wymianę opon {when}? Mam {car}.",
    "Czy są klocki hamulcowe do {car}?",
    "Ile trwa diagnostyka {car}?",
)
WHEN_EN: tuple[str, ...] = ("tomorrow", "on Saturday", "next week", "this evening")
WHEN_PL: tuple[str, ...] = ("jutro", "w sobotę", "w przyszłym tygodniu", "dziś wieczorem")

GENERIC_TEXTS: Mapping[str, tuple[str, ...]] = {
    RU: (
        "Актуально?",
        "Здравствуйте",
        "Ещё продаётся?",
        "Цена?",
        "Добрый день!",
        "Торг возможен?",
        "Здравствуйте, актуально?",
        "Еще актуально?",
        "Где можно посмотреть?",
        "Здравствуйте!",
    ),
    PL: ("Aktualne?", "Dzień dobry", "Cena?", "Czy nadal dostępne?"),
    EN: ("Is it still available?", "Hi", "Price?", "Hello"),
}
FOLLOW_UPS: Mapping[str, tuple[str, ...]] = {
    RU: (
        "Спасибо!",
        "А по времени сколько?",
        "Можете перезвонить?",
        "Жду ответа",
        "Адрес подскажите",
        "Ок, приеду",
        "А скидка есть?",
        "Хорошо, подумаю",
    ),
    PL: ("Dziękuję!", "Jaki adres?", "Czekam na odpowiedź"),
    EN: ("Thanks!", "Any update?", "What is the address?"),
}
GREETINGS: Mapping[str, tuple[str, ...]] = {
    RU: ("Здравствуйте! ", "Добрый день! ", "Привет, ", "Добрый вечер. "),
    PL: ("Dzień dobry! ", "Cześć, "),
    EN: ("Hello! ", "Hi, "),
}

EMOJI_NICKS: tuple[str, ...] = (
    "🌸{n}🌸",
    "{n} 🚗",
    "⚡",
    "🙂",
    "{n}💫",
    "🐾",
    "☀️{n}",
    "Mr. {n}",
    "{n}❤️",
)

EMAIL_DOMAINS: Mapping[str, tuple[str, ...]] = {
    RU: ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "list.ru", "inbox.ru", "rambler.ru", "ya.ru"),
    PL: ("gmail.com", "wp.pl", "onet.pl", "o2.pl", "interia.pl"),
    EN: ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com"),
}
JUNK_PHONES: tuple[str, ...] = ("12345", "123", "0000000", "+7 (999) 999-99-99", "111", "89999999999", "-")
JUNK_EMAILS: tuple[str, ...] = ("test@test.com", "a@a", "test@test.ru", "asd@asd.ru", "нет", "")
