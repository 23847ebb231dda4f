"""Crowd: a second, independent generator of customer traffic with ground truth.

    python -m bench.crowd --persons N --seed S --out EVENTS.jsonl --truth TRUTH.jsonl [--days D]

It exists to measure identity resolution on data whose assumptions are not the resolver's: it was
written from how customers of a small furniture workshop behave, with its own name tables
(``bench.crowd_names``) and texts (``bench.crowd_texts``). EVENTS is a replay file (the envelopes of
``stitch replay``, providers' raw webhook bodies, sorted by arrival); TRUTH has one line per event:
``{"event_id", "person_id", "profile"}`` with the channel account the event came from, as
``bench.accuracy`` scores them.

Who the crowd is (shares of persons; languages 80% Russian, 10% Polish, 10% English):

- 28% impatient: one question on 2-4 channels within minutes (2: half, 3: a third, 4: the rest),
  copied, copied carelessly, greeted differently or reworded; each channel shows its own part of the name;
- 31% one channel, sometimes with a follow-up ("Ау", "Можно фото?");
- 14% returning with a twist, days or weeks later: a new phone, a new e-mail, a form whose typed phone
  is their earlier WhatsApp number (whose profile name was empty), two forms weeks apart with the same
  name and phone and a new e-mail, a new browser, or another channel with only the name in common;
- 6% share their contact in Telegram, then write from that phone elsewhere (one in seven shares
  someone else's card instead: a relative's number, not theirs);
- 5% colleagues (groups of 2-4) writing from one office phone and typing it in forms with their own names;
- 5% families (groups of 2-3, one surname) sharing the owner's phone;
- 7% send only a template text ("Сколько стоит?", "Актуально?") on one channel;
- 4% junk form submissions (test names, invalid or placeholder phones, placeholder e-mails).

On top of that every impatient or one-channel customer comes back with probability 0.2; one person in
ten reuses an earlier person's given name and one in a hundred their full name (namesakes, at other times);
forms carry phones typed in many formats, now and then an invalid one, and typos in given names.
Everything is drawn from one ``random.Random(seed)`` (Faker seeded from it), so a seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import re
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import phonenumbers
from faker import Faker

from bench import crowd_names as nm
from bench import crowd_texts as tx

START = datetime(2026, 9, 7, tzinfo=UTC)
DEFAULT_DAYS = 40
LOCALES = {"ru": "ru_RU", "pl": "pl_PL", "en": "en_US"}
LANGS = (("ru", 0.8), ("pl", 0.1), ("en", 0.1))
# Shares of persons (not of draws: an office or a family is drawn once and brings several persons).
KINDS = (
    ("impatient", 0.28),
    ("single", 0.31),
    ("returning", 0.14),
    ("sharer", 0.06),
    ("office", 0.05),
    ("family", 0.05),
    ("template", 0.07),
    ("junk", 0.04),
)
GROUP_SIZES = {"office": (2, 3, 4), "family": (2, 2, 3)}
TWISTS = ("new_phone", "new_email", "form_equals_whatsapp", "two_forms", "new_browser", "other_channel")
# How likely each language's customers are to use each channel (Avito is Russian).
CHANNEL_HABITS = {
    "ru": {"telegram": 0.5, "whatsapp": 0.45, "avito": 0.35, "webform": 0.35},
    "pl": {"telegram": 0.3, "whatsapp": 0.6, "avito": 0.02, "webform": 0.5},
    "en": {"telegram": 0.35, "whatsapp": 0.6, "avito": 0.02, "webform": 0.5},
}
RETURN_CHANCE = 0.2
NAMESAKE_GIVEN, NAMESAKE_FULL = 0.1, 0.01
# Moscow time is UTC+3; people write from morning to late evening, most around lunch and after work.
LOCAL_OFFSET_H = 3
HOUR_WEIGHTS = {8: 2, 9: 4, 10: 6, 11: 7, 12: 8, 13: 8, 14: 7, 15: 7, 16: 6, 17: 6, 18: 7, 19: 8, 20: 8, 21: 6,
                22: 4, 23: 2}  # fmt: skip

BUSINESS_NAME = "Мебельная мастерская «Дуб»"
SITE = "https://dub-mebel.ru"
FORM_PAGES = ("/", "/contacts", "/catalog/divany", "/catalog/shkafy", "/kuhni-na-zakaz", "/akcii")
NICKNAMES = ("Котик", "Лис", "Шеф", "Солнышко", "Kot", "Fox", "Mr. X", "🌸", "Ёжик", "Sunny", "Малыш", "M", "Dad")
SOMEONE_ELSE = ("Мама", "Жена", "Муж", "Папа", "Сын", "Бабушка")
EMAIL_DOMAINS = {
    "ru": ("mail.ru", "mail.ru", "yandex.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru", "rambler.ru"),
    "pl": ("wp.pl", "onet.pl", "gmail.com", "o2.pl", "interia.pl"),
    "en": ("gmail.com", "gmail.com", "outlook.com", "yahoo.com", "hotmail.co.uk"),
}
MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
JUNK_PHONES = ("0000000000", "12345", "+7 111 111 11 11", "89999999999", "1234567", "нет", "8 800")
JUNK_EMAILS = ("test@test.com", "asd@asd", "", "", "123@mail", "a@a.ru", "test@test.ru")


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramAccount:
    user_id: int
    first_name: str
    last_name: str
    username: str
    language_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AvitoAccount:
    author_id: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """One customer: their name, their current phone and e-mail, their accounts once they have used them."""

    pid: str
    lang: str
    female: bool
    given: str
    surname: str
    middle: str
    phone: str
    email: str
    visitor: str
    channels: tuple[str, ...]
    telegram: TelegramAccount | None = None
    avito: AvitoAccount | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    """An event before the file is sorted: Telegram's update and message ids are given in arrival order."""

    at: datetime
    seq: int
    channel: str
    person: str
    profile: str
    payload: dict[str, Any]
    lookups: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    persons: int
    events: int
    channels: dict[str, int]

    def render(self) -> str:
        per = ", ".join(f"{name} {count}" for name, count in sorted(self.channels.items()))
        return f"{self.persons} persons, {self.events} events ({per})"


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


class _Crowd:
    """The generator's state while persons are drawn; `events()` gives the sorted envelopes."""

    def __init__(self, *, seed: int, days: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.days = days
        self.end = START + timedelta(days=days)
        self.fakers: dict[str, Faker] = {}
        for lang, locale in LOCALES.items():
            faker = Faker(locale)
            faker.seed_instance(self.rng.getrandbits(32))
            self.fakers[lang] = faker
        self.people: dict[str, Person] = {}
        self.drafts: list[Draft] = []
        self.taken: set[str] = set()  # phones, e-mails, usernames, account ids: each drawn once
        self.wa_names: dict[str, str] = {}  # a WhatsApp account's profile name, set by its owner
        self.avito_chats: dict[tuple[int, str], str] = {}
        self.names_seen: list[tuple[str, bool, str, str, str]] = []
        self.account_sid = "AC" + _hex(self.rng, 32)
        self.business_phone = "+7495" + str(self.rng.randint(2_000_000, 9_999_999))
        self.avito_account = self.rng.randint(90_000_000, 99_999_999)
        self.listings = {item: self.rng.randint(2_000_000_000, 4_999_999_999) for item in tx.ITEMS["ru"]}

    # --- persons -----------------------------------------------------------------------------------
    def populate(self, count: int) -> None:
        kinds = [k for k, _ in KINDS]
        sizes = {kind: sum(options) / len(options) for kind, options in GROUP_SIZES.items()}
        weights = [share / sizes.get(kind, 1) for kind, share in KINDS]
        while len(self.people) < count:
            kind = self.rng.choices(kinds, weights=weights)[0]
            room = count - len(self.people)
            if kind == "office":
                self._office(min(room, self.rng.choice(GROUP_SIZES[kind])))
            elif kind == "family":
                self._family(min(room, self.rng.choice(GROUP_SIZES[kind])))
            else:
                getattr(self, f"_{kind}")(self._person())

    def _person(self, *, lang: str | None = None, female: bool | None = None, surname: str = "") -> Person:
        rng = self.rng
        lang = lang or rng.choices([lang for lang, _ in LANGS], weights=[w for _, w in LANGS])[0]
        female = rng.random() < 0.5 if female is None else female
        given, family_name, middle = self._name(lang, female)
        if surname:
            family_name = nm.surname_for(surname, lang, female)
        habits = CHANNEL_HABITS[lang]
        channels = tuple(ch for ch in habits if rng.random() < habits[ch]) or (
            rng.choices(list(habits), weights=list(habits.values()))[0],
        )
        person = Person(
            pid=f"P{len(self.people) + 1:06d}",
            lang=lang,
            female=female,
            given=given,
            surname=family_name,
            middle=middle,
            phone=self._mobile(lang),
            email="",
            visitor=self._visitor(),
            channels=channels,
        )
        person = replace(person, email=self._email(person))
        self.people[person.pid] = person
        self.names_seen.append((lang, female, given, family_name, middle))
        return person

    def _name(self, lang: str, female: bool) -> tuple[str, str, str]:
        rng, faker = self.rng, self.fakers[lang]
        same = [n for n in self.names_seen if n[0] == lang and n[1] == female]
        roll = rng.random()
        if same and roll < NAMESAKE_FULL:
            _, _, given, surname, middle = rng.choice(same)
            return given, surname, middle
        if same and roll < NAMESAKE_FULL + NAMESAKE_GIVEN:
            given = rng.choice(same)[2]
        elif rng.random() < 0.75:
            given = rng.choice(sorted(nm.SHORT_FORMS[(lang, female)]))
        else:
            given = faker.first_name_female() if female else faker.first_name_male()
        # en_US surnames have no gender; Russian and Polish ones do (Петрова, Kowalska).
        if lang == "en":
            surname = faker.last_name()
        elif female:
            surname = faker.last_name_female()
        else:
            surname = faker.last_name_male()
        middle = ""
        if lang == "ru":
            middle = faker.middle_name_female() if female else faker.middle_name_male()
        return given, surname, middle

    def _update(self, person: Person, **changes: Any) -> Person:
        person = replace(person, **changes)
        self.people[person.pid] = person
        return person

    # --- behaviours --------------------------------------------------------------------------------
    def _impatient(self, person: Person) -> None:
        k = self.rng.choices((2, 3, 4), weights=(50, 35, 15))[0]
        at = self._moment()
        self._burst(person.pid, at, self._pick_channels(person, k), tx.topic(person.lang, self.rng))
        self._maybe_return(person.pid, at)

    def _single(self, person: Person) -> None:
        at = self._moment()
        channel = self._pick_channels(person, 1)[0]
        self._ask(person.pid, channel, at, tx.topic(person.lang, self.rng))
        self._maybe_return(person.pid, at)

    def _returning(self, person: Person) -> None:
        rng = self.rng
        twist = rng.choice(TWISTS)
        at = self._moment(latest=0.6)
        about = tx.topic(person.lang, rng)
        if twist == "form_equals_whatsapp":
            # Their WhatsApp shows no name; the form weeks later is the first time they give one.
            self.wa_names[person.phone] = ""
            self._say(person.pid, "whatsapp", at, tx.question(about, rng))
        elif twist == "two_forms":
            self._form(person.pid, at, tx.question(about, rng), full_name=True, phone=True, email=True)
        elif rng.random() < 0.4:
            self._burst(person.pid, at, self._pick_channels(person, 2), about)
        else:
            self._ask(person.pid, self._pick_channels(person, 1)[0], at, about)
        for _ in range(rng.choice((1, 1, 2))):
            at = self._days_later(at, 3, 30)
            if at >= self.end:
                return
            self._come_back(person.pid, at, twist)

    def _come_back(self, pid: str, at: datetime, twist: str) -> None:
        rng = self.rng
        person = self.people[pid]
        text = tx.question(tx.topic(person.lang, rng), rng)
        if twist == "new_phone":
            person = self._update(person, phone=self._mobile(person.lang))
            self._say(pid, "whatsapp", at, text)
            if rng.random() < 0.5:
                self._form(pid, at + timedelta(minutes=rng.randint(2, 90)), text, phone=True, email=True)
        elif twist == "new_email":
            person = self._update(person, email=self._email(person))
            self._form(pid, at, text, phone=True, email=True)
        elif twist == "form_equals_whatsapp":
            self._form(pid, at, text, full_name=True, phone=True, email=rng.random() < 0.6)
        elif twist == "two_forms":
            changes: dict[str, Any] = {"email": self._email(person)}
            if rng.random() < 0.5:
                changes["visitor"] = self._visitor()
            self._update(person, **changes)
            self._form(pid, at, text, full_name=True, phone=True, email=True)
        elif twist == "new_browser":
            self._update(person, visitor=self._visitor())
            self._form(pid, at, text, phone=rng.random() < 0.5, email=True)
        else:
            used = {d.channel for d in self.drafts if d.person == pid}
            fresh = [ch for ch in ("telegram", "whatsapp", "avito", "webform") if ch not in used]
            self._say(pid, rng.choice(fresh or ["avito"]), at, text)

    def _sharer(self, person: Person) -> None:
        rng = self.rng
        at = self._moment(latest=0.8)
        about = tx.topic(person.lang, rng)
        self._say(person.pid, "telegram", at, tx.question(about, rng))
        # The bot asks for a number; the customer presses the button a little later.
        shared = at + timedelta(seconds=rng.randint(30, 300))
        if rng.random() < 1 / 7:
            self._telegram(person.pid, shared, "", contact=self._someone_elses_card(person))
            return
        self._telegram(person.pid, shared, "", contact=self._own_card(person))
        later = self._days_later(shared, 0, 20) if rng.random() < 0.8 else shared + timedelta(hours=rng.uniform(1, 5))
        if later >= self.end:
            return
        text = tx.question(tx.topic(person.lang, rng), rng)
        if rng.random() < 0.5:
            self._say(person.pid, "whatsapp", later, text)
        else:
            self._form(person.pid, later, text, phone=True, email=rng.random() < 0.5)

    def _office(self, size: int) -> None:
        rng = self.rng
        company = self.fakers["ru"].company()
        word = re.sub(r"[^a-z]", "", nm.latin(company.split("«")[-1].split(" ")[0], rng).lower())[:10] or "office"
        domain = f"{word}{rng.choice(('', '-group', '-stroy', '-m'))}.ru"
        members = [self._person(lang="ru") for _ in range(size)]
        line = self._mobile("ru")
        self.wa_names[line] = rng.choice((company, "", "", members[0].given, "Офис"))
        for member in members:
            local = f"{nm.latin(member.surname, rng, scheme='passport').lower()}"
            self._update(member, email=self._unique(f"{local}@{domain}", f"{local[0]}{local}@{domain}"))
            for _ in range(rng.choice((1, 1, 2, 3))):
                at = self._moment()
                text = tx.question(tx.topic("ru", rng), rng)
                roll = rng.random()
                if roll < 0.45:
                    self._whatsapp(member.pid, line, at, text)
                elif roll < 0.8:
                    self._form(member.pid, at, text, phone=True, email=rng.random() < 0.7, phone_value=line)
                else:
                    self._say(member.pid, "telegram", at, text)

    def _family(self, size: int) -> None:
        rng = self.rng
        owner = self._person(lang=rng.choices(("ru", "pl"), weights=(9, 1))[0])
        members = [owner] + [self._person(lang=owner.lang, surname=owner.surname) for _ in range(size - 1)]
        self._single(owner)
        for member in members[1:]:
            for _ in range(rng.choice((1, 2))):
                at = self._moment()
                text = tx.question(tx.topic(member.lang, rng), rng)
                roll = rng.random()
                if roll < 0.45:
                    self._whatsapp(member.pid, owner.phone, at, text)
                elif roll < 0.75:
                    self._form(member.pid, at, text, phone=True, email=rng.random() < 0.5, phone_value=owner.phone)
                else:
                    self._say(member.pid, rng.choice(("telegram", "avito")), at, text)

    def _template(self, person: Person) -> None:
        channel = self.rng.choices(("avito", "telegram", "whatsapp", "webform"), weights=(45, 25, 20, 10))[0]
        if person.lang != "ru" and channel == "avito":
            channel = "whatsapp"
        self._say(person.pid, channel, self._moment(), tx.template(person.lang, self.rng))

    def _junk(self, person: Person) -> None:
        rng = self.rng
        visitor = self._visitor() if rng.random() < 0.5 else ""
        at = self._moment()
        for _ in range(rng.choice((1, 1, 2))):
            form = {
                "form_id": "contact",
                "name": rng.choice(tx.JUNK_NAMES),
                "phone": rng.choice(JUNK_PHONES),
                "email": rng.choice(JUNK_EMAILS),
                "message": rng.choice(tx.JUNK_TEXTS),
                "page_url": SITE + rng.choice(FORM_PAGES),
            }
            if visitor:
                form["visitor_id"] = visitor
            self._add(person.pid, "webform", at, {k: v for k, v in form.items() if v}, visitor)
            at += timedelta(seconds=rng.randint(5, 120))

    # --- episodes ----------------------------------------------------------------------------------
    def _burst(self, pid: str, at: datetime, channels: Sequence[str], about: tx.Topic) -> None:
        """The same question on several channels within minutes."""
        rng = self.rng
        body = tx.phrase(about, rng)
        first = tx.dress(body, about.lang, rng)
        for i, channel in enumerate(channels):
            if i:
                at += timedelta(seconds=rng.randint(20, 900))
            self._say(pid, channel, at, first if i == 0 else tx.repeat(first, body, about, rng))
            if rng.random() < 0.15 and channel != "webform":
                self._say(pid, channel, at + timedelta(seconds=rng.randint(60, 1200)), tx.follow_up(about.lang, rng))

    def _ask(self, pid: str, channel: str, at: datetime, about: tx.Topic) -> None:
        rng = self.rng
        self._say(pid, channel, at, tx.question(about, rng))
        if rng.random() < 0.35 and channel != "webform":
            self._say(pid, channel, at + timedelta(seconds=rng.randint(60, 3600)), tx.follow_up(about.lang, rng))

    def _maybe_return(self, pid: str, after: datetime) -> None:
        rng = self.rng
        if rng.random() >= RETURN_CHANCE:
            return
        at = self._days_later(after, 2, 35)
        if at >= self.end:
            return
        person = self.people[pid]
        if rng.random() < 0.25:
            person = self._update(person, visitor=self._visitor())
        if rng.random() < 0.1:
            person = self._update(person, email=self._email(person))
        about = tx.topic(person.lang, rng)
        if rng.random() < 0.2:
            self._burst(pid, at, self._pick_channels(person, 2), about)
        else:
            self._ask(pid, self._pick_channels(person, 1)[0], at, about)

    def _say(self, pid: str, channel: str, at: datetime, text: str) -> None:
        person = self.people[pid]
        if channel == "telegram":
            self._telegram(pid, at, text)
        elif channel == "whatsapp":
            self._whatsapp(pid, person.phone, at, text)
        elif channel == "avito":
            self._avito(pid, at, text)
        else:
            rng = self.rng
            self._form(pid, at, text, phone=rng.random() < 0.8, email=rng.random() < 0.6)

    # --- channels ----------------------------------------------------------------------------------
    def _telegram(self, pid: str, at: datetime, text: str, *, contact: dict[str, Any] | None = None) -> None:
        account = self._telegram_account(pid)
        sender: dict[str, Any] = {"id": account.user_id, "is_bot": False, "first_name": account.first_name}
        chat: dict[str, Any] = {"id": account.user_id, "first_name": account.first_name}
        for key in ("last_name", "username"):
            value = getattr(account, key)
            if value:
                sender[key] = chat[key] = value
        if account.language_code:
            sender["language_code"] = account.language_code
        chat["type"] = "private"
        message: dict[str, Any] = {
            "message_id": 0,
            "from": sender,
            "chat": chat,
            "date": int(at.timestamp()) - self.rng.randint(0, 2),
        }
        if contact is not None:
            message["contact"] = contact
        else:
            message["text"] = text
        self._add(pid, "telegram", at, {"update_id": 0, "message": message}, str(account.user_id))

    def _whatsapp(self, pid: str, phone: str, at: datetime, text: str) -> None:
        rng = self.rng
        if phone not in self.wa_names:
            self.wa_names[phone] = self._wa_profile_name(self.people[pid])
        photo = rng.random() < 0.04
        sid = ("MM" if photo else "SM") + _hex(rng, 32)
        form: dict[str, str] = {"SmsMessageSid": sid, "NumMedia": "1" if photo else "0"}
        if self.wa_names[phone]:
            form["ProfileName"] = self.wa_names[phone]
        form |= {
            "MessageType": "image" if photo else "text",
            "SmsSid": sid,
            "WaId": phone.lstrip("+"),
            "SmsStatus": "received",
            "Body": "" if photo else text,
            "To": f"whatsapp:{self.business_phone}",
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:{phone}",
            "ApiVersion": "2010-04-01",
        }
        if photo:
            form["MediaContentType0"] = "image/jpeg"
            form["MediaUrl0"] = (
                f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media/ME{_hex(rng, 32)}"
            )
        self._add(pid, "whatsapp", at, form, phone)

    def _avito(self, pid: str, at: datetime, text: str) -> None:
        rng = self.rng
        account = self._avito_account(pid)
        item = rng.choice(tx.ITEMS["ru"])
        item_id = self.listings[item]
        chat_id = self.avito_chats.setdefault(
            (account.author_id, item), f"u2i-{_hex(rng, 10)}~{rng.randint(100_000_000, 999_999_999)}"
        )
        created = int(at.timestamp()) - rng.randint(0, 3)
        value = {
            "id": _hex(rng, 32),
            "chat_id": chat_id,
            "user_id": self.avito_account,
            "author_id": account.author_id,
            "created": created,
            "type": "text",
            "chat_type": "u2i",
            "content": {"text": text},
            "item_id": item_id,
            "published_at": _stamp(at),
        }
        payload = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "version": "v3.0.0",
            "timestamp": created,
            "payload": {"type": "message", "value": value},
        }
        chat = {
            "id": chat_id,
            "context": {
                "type": "item",
                "value": {
                    "id": item_id,
                    "title": item[0].upper() + item[1:],
                    "url": f"https://www.avito.ru/izhevsk/mebel_i_interer/{item_id}",
                    "user_id": self.avito_account,
                },
            },
            "users": [
                {"id": self.avito_account, "name": BUSINESS_NAME},
                {"id": account.author_id, "name": account.name},
            ],
        }
        self._add(pid, "avito", at, payload, str(account.author_id), lookups={"chat": chat})

    def _form(
        self,
        pid: str,
        at: datetime,
        text: str,
        *,
        phone: bool,
        email: bool,
        full_name: bool = False,
        phone_value: str = "",
    ) -> None:
        rng = self.rng
        person = self.people[pid]
        typed_phone = ""
        if phone:
            typed_phone = self._typed_phone(phone_value or person.phone)
            if rng.random() < 0.04:
                typed_phone = typed_phone[: -rng.randint(2, 4)]  # missed digits: an invalid number
        form: dict[str, str] = {
            "form_id": "contact" if text else "callback",
            "name": self._form_name(person, full=full_name),
            "phone": typed_phone,
            "email": person.email if email else "",
            "message": text if rng.random() < 0.9 or not (typed_phone or email) else "",
            "page_url": SITE + rng.choice(FORM_PAGES),
        }
        if rng.random() < 0.25:
            form["utm_source"] = rng.choice(("yandex", "google", "vk", "avito"))
            form["utm_medium"] = "cpc"
        # Browsers blocking the site's storage, and old pages without the snippet, send no visitor id.
        visitor = person.visitor if rng.random() < 0.92 else ""
        if visitor:
            form["visitor_id"] = visitor
        if rng.random() < 0.5:
            form["website"] = ""  # the honeypot, left empty by people
            body = form
        else:
            body = {k: v for k, v in form.items() if v}
        self._add(pid, "webform", at, body, visitor)

    def _add(
        self,
        pid: str,
        channel: str,
        at: datetime,
        payload: dict[str, Any],
        account: str,
        *,
        lookups: dict[str, Any] | None = None,
    ) -> None:
        profile = f"{channel}:{account}" if account else ""
        self.drafts.append(
            Draft(
                at=at,
                seq=len(self.drafts),
                channel=channel,
                person=pid,
                profile=profile,
                payload=payload,
                lookups=lookups,
            )
        )

    # --- accounts and what they show ---------------------------------------------------------------
    def _telegram_account(self, pid: str) -> TelegramAccount:
        person = self.people[pid]
        if person.telegram is not None:
            return person.telegram
        rng = self.rng
        while True:
            # Accounts made before 2021 have 9- or 10-digit ids below 5e9, newer ones 5e9 to 8e9.
            user_id = (
                rng.randint(100_000_000, 1_999_999_999) if rng.random() < 0.3 else rng.randint(5 * 10**9, 8 * 10**9)
            )
            if self._claim(f"tg:{user_id}"):
                break
        first, last = self._telegram_names(person)
        username = self._username(person) if rng.random() < 0.6 else ""
        language = {"ru": "ru", "pl": "pl", "en": "en"}[person.lang] if rng.random() < 0.9 else ""
        account = TelegramAccount(
            user_id=user_id, first_name=first, last_name=last, username=username, language_code=language
        )
        self._update(person, telegram=account)
        return account

    def _telegram_names(self, person: Person) -> tuple[str, str]:
        rng = self.rng
        given, surname = person.given, person.surname
        short = nm.short_form(given, person.lang, person.female, rng)
        roll = rng.random()
        in_latin = False
        if roll < 0.30:
            first = given
        elif roll < 0.55:
            first = short
        elif roll < 0.65:
            first, in_latin = nm.latin_given(given, rng) if person.lang == "ru" else nm.latin(given, rng), True
        elif roll < 0.72:
            first, in_latin = nm.latin(short, rng), True
        elif roll < 0.79:
            return rng.choice(NICKNAMES), ""
        elif roll < 0.84:
            return f"{given} {surname}", ""
        else:
            first = short if rng.random() < 0.5 else given
        if rng.random() < 0.03:
            first = nm.typo(first, rng)
        roll = rng.random()
        if roll < 0.35:
            last = nm.latin(surname, rng) if in_latin else surname
        elif roll < 0.40:
            last = (nm.latin(surname, rng) if in_latin else surname)[0] + "."
        else:
            last = ""
        return first, last

    def _wa_profile_name(self, person: Person) -> str:
        rng = self.rng
        roll = rng.random()
        given = person.given
        if roll < 0.40:
            return ""
        if roll < 0.60:
            return given
        if roll < 0.72:
            return nm.short_form(given, person.lang, person.female, rng)
        if roll < 0.82:
            return f"{given} {person.surname}"
        if roll < 0.90:
            return nm.latin_given(given, rng) if person.lang == "ru" else nm.latin(given, rng)
        if roll < 0.95:
            return rng.choice(NICKNAMES)
        return f"{nm.short_form(given, person.lang, person.female, rng)} {rng.choice(('🌸', '😊', '🙂', '✨'))}"

    def _avito_account(self, pid: str) -> AvitoAccount:
        person = self.people[pid]
        if person.avito is not None:
            return person.avito
        rng = self.rng
        while True:
            author_id = rng.randint(10_000_000, 399_999_999)
            if author_id != self.avito_account and self._claim(f"avito:{author_id}"):
                break
        roll = rng.random()
        given, surname = person.given, person.surname
        if roll < 0.50:
            name = given
        elif roll < 0.72:
            name = f"{given} {surname[0]}."
        elif roll < 0.80:
            name = nm.short_form(given, person.lang, person.female, rng)
        elif roll < 0.90:
            name = f"{given} {surname}"
        elif roll < 0.95:
            name = nm.latin_given(given, rng) if person.lang == "ru" else given
        else:
            name = rng.choice(("Пользователь", "Покупатель", "Частное лицо"))
        account = AvitoAccount(author_id=author_id, name=name)
        self._update(person, avito=account)
        return account

    def _form_name(self, person: Person, *, full: bool) -> str:
        """What the customer types in the name field this time."""
        rng = self.rng
        given = nm.typo(person.given, rng) if rng.random() < 0.08 else person.given
        surname = nm.typo(person.surname, rng) if rng.random() < 0.03 else person.surname
        roll = rng.random() * (0.7 if full else 1.0)
        if roll < 0.35:
            name = f"{given} {surname}"
        elif roll < 0.55:
            name = f"{surname} {given}"
        elif roll < 0.63 and person.middle:
            name = f"{surname} {given} {person.middle}"
        elif roll < 0.70:
            name = f"{given} {surname}"
        elif roll < 0.88:
            name = given
        elif roll < 0.94:
            name = nm.short_form(person.given, person.lang, person.female, rng)
        else:
            name = ""
        if name and rng.random() < 0.05:
            name = name.lower()
        if name and person.lang == "ru" and rng.random() < 0.03:
            name = " ".join(nm.latin(part, rng) for part in name.split())
        return name

    def _username(self, person: Person) -> str:
        rng = self.rng
        given = re.sub(r"[^a-z]", "", nm.latin(person.given, rng).lower()) or "user"
        short = re.sub(
            r"[^a-z]", "", nm.latin(nm.short_form(person.given, person.lang, person.female, rng), rng).lower()
        )
        surname = re.sub(r"[^a-z]", "", nm.latin(person.surname, rng).lower()) or "x"
        options = (
            f"{short or given}_{surname[0]}",
            f"{surname}{rng.randint(1, 99)}",
            f"{given}{rng.randint(1970, 2008)}",
            f"{given}_{surname}",
            f"{rng.choice(('dark', 'lucky', 'mad', 'happy', 'mr', 'real'))}_{rng.choice(('fox', 'cat', 'wolf', 'bear'))}"
            f"{rng.randint(1, 999)}",
        )
        base = rng.choice(options)
        name = base if len(base) >= 5 else base + str(rng.randint(100, 999))
        while not self._claim(f"tgu:{name.lower()}"):
            name = f"{base}{rng.randint(1, 9999)}"
        return name

    def _email(self, person: Person) -> str:
        rng = self.rng
        given = re.sub(r"[^a-z]", "", nm.latin(person.given, rng).lower()) or "mail"
        surname = re.sub(r"[^a-z]", "", nm.latin(person.surname, rng).lower()) or "box"
        local = rng.choice(
            (
                f"{given}.{surname}",
                f"{surname}{rng.randint(1, 99)}",
                f"{given[0]}.{surname}",
                f"{given}{rng.randint(1970, 2008)}",
                f"{surname}.{given[0]}",
                f"{rng.choice(('kotik', 'solnce', 'zvezda', 'luckyman', 'moon'))}{rng.randint(1, 9999)}",
            )
        )
        domain = rng.choice(EMAIL_DOMAINS[person.lang])
        return self._unique(f"{local}@{domain}", *(f"{local}{n}@{domain}" for n in rng.sample(range(10, 999), 5)))

    def _unique(self, *options: str) -> str:
        for option in options:
            if self._claim(f"email:{option}"):
                return option
        while True:
            candidate = f"client{self.rng.randint(10_000, 99_999_999)}@mail.ru"
            if self._claim(f"email:{candidate}"):
                return candidate

    def _claim(self, key: str) -> bool:
        if key in self.taken:
            return False
        self.taken.add(key)
        return True

    def _mobile(self, lang: str) -> str:
        """A valid mobile number nobody else in the crowd has."""
        rng = self.rng
        while True:
            if lang == "pl":
                raw = "+48" + rng.choice("5678") + "".join(rng.choices("0123456789", k=8))
            elif lang == "en" and rng.random() < 0.6:
                raw = "+447" + "".join(rng.choices("0123456789", k=9))
            else:
                raw = "+79" + "".join(rng.choices("0123456789", k=9))
            number = phonenumbers.parse(raw)
            mobile = phonenumbers.number_type(number) in MOBILE_TYPES
            if len(set(raw[-7:])) > 3 and mobile and self._claim(f"phone:{raw}"):
                return raw

    def _typed_phone(self, e164: str) -> str:
        """The number as a person types it into a form."""
        rng = self.rng
        if e164.startswith("+7"):
            d = e164[2:]
            a, b, c, e = d[:3], d[3:6], d[6:8], d[8:]
            return rng.choice(
                (
                    f"8 ({a}) {b}-{c}-{e}",
                    f"+7 {a} {b} {c} {e}",
                    f"{a}{b}{c}{e}",
                    f"8{a}{b}{c}{e}",
                    f"+7({a}){b}-{c}-{e}",
                    f"8-{a}-{b}-{c}-{e}",
                    f"7{a}{b}{c}{e}",
                    e164,
                    f"8 {a} {b}-{c}-{e}",
                    f"8 {a} {b} {c} {e}",
                )
            )
        if e164.startswith("+48"):
            d = e164[3:]
            a, b, c = d[:3], d[3:6], d[6:]
            return rng.choice(
                (f"+48 {a} {b} {c}", f"{a}-{b}-{c}", f"0048{d}", e164, f"+48 {a}-{b}-{c}", f"{a} {b} {c}")
            )
        if e164.startswith("+44"):
            d = e164[3:]
            return rng.choice((f"+44 {d[:4]} {d[4:]}", f"0{d[:4]} {d[4:]}", e164))
        return e164

    def _own_card(self, person: Person) -> dict[str, Any]:
        account = self._telegram_account(person.pid)
        phone = person.phone.lstrip("+") if self.rng.random() < 0.7 else person.phone
        card: dict[str, Any] = {"phone_number": phone, "first_name": account.first_name}
        if account.last_name:
            card["last_name"] = account.last_name
        card["user_id"] = account.user_id
        return card

    def _someone_elses_card(self, person: Person) -> dict[str, Any]:
        name = self.rng.choice(SOMEONE_ELSE)
        phone = self._mobile(person.lang)
        return {
            "phone_number": phone,
            "first_name": name,
            "vcard": f"BEGIN:VCARD\nVERSION:3.0\nFN:{name}\nTEL;MOBILE:{phone}\nEND:VCARD",
        }

    def _visitor(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return _hex(rng, 32)
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    # --- time --------------------------------------------------------------------------------------
    def _moment(self, *, latest: float = 0.95) -> datetime:
        """A moment within the first `latest` share of the period, at an hour people write."""
        return self._on_day(self.rng.randrange(max(1, int(self.days * latest))))

    def _days_later(self, after: datetime, least: int, most: int) -> datetime:
        """A moment `least` to `most` days after `after` (never before it), at an hour people write."""
        day = (after - START).days + self.rng.randint(least, most)
        return max(self._on_day(day), after + timedelta(minutes=self.rng.randint(30, 240)))

    def _on_day(self, day: int) -> datetime:
        rng = self.rng
        hour = rng.choices(list(HOUR_WEIGHTS), weights=list(HOUR_WEIGHTS.values()))[0] - LOCAL_OFFSET_H
        return START + timedelta(days=day, hours=hour, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))

    def _pick_channels(self, person: Person, count: int) -> list[str]:
        """`count` channels in the order the person tries them, their usual ones first."""
        rng = self.rng
        habits = CHANNEL_HABITS[person.lang]
        pool = list(person.channels)
        rng.shuffle(pool)
        others = [ch for ch in habits if ch not in pool]
        while len(pool) < count and others:
            pick = rng.choices(others, weights=[habits[ch] for ch in others])[0]
            others.remove(pick)
            pool.append(pick)
        return pool[:count]

    # --- output ------------------------------------------------------------------------------------
    def events(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """(envelope, truth row) in arrival order, with Telegram's ids counted in that order."""
        rng = self.rng
        update_id = rng.randint(600_000_000, 900_000_000)
        message_ids: dict[int, int] = {}
        rows: list[tuple[dict[str, Any], dict[str, str]]] = []
        kept = sorted((d for d in self.drafts if d.at < self.end), key=lambda d: (d.at, d.seq))
        for number, draft in enumerate(kept, start=1):
            event_id = f"cr{self.seed}-{number:06d}"
            if draft.channel == "telegram":
                # Other updates (edits, button presses) and the bot's own replies use ids in between.
                update_id += rng.randint(1, 3)
                message = draft.payload["message"]
                chat = message["chat"]["id"]
                message_ids[chat] = message_ids.get(chat, rng.randint(1, 40)) + rng.randint(1, 3)
                draft.payload["update_id"] = update_id
                message["message_id"] = message_ids[chat]
            envelope: dict[str, Any] = {
                "id": event_id,
                "channel": draft.channel,
                "received_at": _stamp(draft.at),
                "payload": draft.payload,
            }
            if draft.lookups is not None:
                envelope["lookups"] = draft.lookups
            profile = draft.profile or f"webform:{event_id}"
            rows.append((envelope, {"event_id": event_id, "person_id": draft.person, "profile": profile}))
        return rows


def _open_out(path: str) -> IO[str]:
    if path.endswith(".gz"):
        # mtime=0 keeps the compressed bytes the same for the same seed.
        return io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="utf-8")
    return open(path, "w", encoding="utf-8")


def generate(*, persons: int, seed: int, out: str, truth: str, days: int = DEFAULT_DAYS) -> Summary:
    """Write the replay file and its truth; the same arguments give the same bytes."""
    crowd = _Crowd(seed=seed, days=days)
    crowd.populate(persons)
    rows = crowd.events()
    with _open_out(out) as events, _open_out(truth) as answers:
        for envelope, row in rows:
            events.write(json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n")
            answers.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    channels = Counter(envelope["channel"] for envelope, _ in rows)
    return Summary(persons=len({row["person_id"] for _, row in rows}), events=len(rows), channels=dict(channels))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from e
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.crowd",
        description="Realistic customer traffic with ground truth, independent of the resolver's assumptions.",
    )
    parser.add_argument("--persons", type=_positive, required=True, help="how many customers")
    parser.add_argument("--seed", type=int, required=True, help="the same seed gives the same files")
    parser.add_argument("--out", required=True, help="replay file to write (JSON Lines, .gz ok)")
    parser.add_argument("--truth", required=True, help="truth file to write (JSON Lines)")
    parser.add_argument(
        "--days", type=_positive, default=DEFAULT_DAYS, help=f"length of the period (default {DEFAULT_DAYS})"
    )
    args = parser.parse_args(argv)
    try:
        summary = generate(persons=args.persons, seed=args.seed, out=args.out, truth=args.truth, days=args.days)
    except OSError as e:
        print(f"crowd: cannot write {e.filename or args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(summary.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
