"""Realistic multi-channel customer traffic with ground truth, as a replay file.

    python -m bench.generate --persons N --seed S --out FILE.jsonl[.gz] --truth TRUTH.jsonl
                             [--start 2026-10-01T00:00:00Z] [--days D]

Output: replay lines (docs: contracts/replay-and-export.md) sorted by ``received_at``; payloads are the
providers' raw webhook bodies (Telegram Update, Twilio form fields as strings, Avito webhook v3 with the
chat-info answer in ``lookups.chat``, web-form fields).

Truth file: JSON Lines, one line per event, written in generation order (not time order)::

    {"event_id": "s7e00000001", "person_id": "P0000001", "population": "impatient_multichannel",
     "channel": "telegram", "profile": "telegram:100234567"}

``person_id`` is the true person. ``profile`` is the channel account the event came from (Telegram
``from.id``, WhatsApp ``From``, Avito ``author_id``, web-form ``visitor_id`` or the event itself when the
form sent none): the accuracy metric skips pairs of events from one profile.

Populations (shares of generated persons; groups are 2–4 persons each):

- ``impatient_multichannel`` (IMPATIENT_SHARE): the same question on 2–4 channels 1–15 minutes apart,
  rephrased per channel; each channel shows the name its own way.
- ``single_channel`` (SINGLE_SHARE): one channel, 1–4 messages, follow-ups over days.
- ``returning`` (RETURNING_SHARE): back 2–8 weeks later from a new phone with the same e-mail, a new
  e-mail with the same phone, or the same Telegram account.
- ``telegram_contact_share`` (CONTACT_SHARE_SHARE): a Telegram user shares their phone with the contact
  button, and also writes on WhatsApp from that phone.
- ``namesakes`` (NAMESAKES_SHARE): 2–4 different people with one common name (or first name) asking
  similar questions on the same day.
- ``colleagues_office_phone`` (COLLEAGUES_SHARE): 2–3 colleagues typing the same office phone.
- ``family_phone`` (FAMILY_SHARE): spouses with one surname and one phone, different first names.
- ``generic_texts`` (GENERIC_SHARE): "Актуально?", "Цена?" and the like, mostly on Avito.
- ``junk_typo`` (JUNK_SHARE): an invalid phone ("12345") or placeholder e-mail on the form.

Density: ``--days`` defaults to N / PERSONS_PER_DAY; new persons arrive evenly over the days, at hours
drawn from HOUR_WEIGHTS (business-hour peaks). Returning customers may fall after the last day.

Streaming: persons are generated in arrival order, their events go into per-day buckets, and a bucket is
sorted and written as soon as no later person can add to it (no event precedes its person's arrival).
Memory holds only the buckets still open (returning customers' later visits), not the whole file.

Determinism: one ``random.Random(seed)`` drives everything; Faker is seeded with ``seed_instance`` and
only used to fill name pools up front; gzip output is written with mtime 0.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import IO, Any

from faker import Faker
from unidecode import unidecode

from bench import vocab
from bench.vocab import EN, PL, RU

# --- populations (shares of persons; they sum to 1) -------------------------------------------------
IMPATIENT = "impatient_multichannel"
SINGLE = "single_channel"
RETURNING = "returning"
CONTACT_SHARE = "telegram_contact_share"
NAMESAKES = "namesakes"
COLLEAGUES = "colleagues_office_phone"
FAMILY = "family_phone"
GENERIC = "generic_texts"
JUNK = "junk_typo"

IMPATIENT_SHARE = 0.20
SINGLE_SHARE = 0.34
RETURNING_SHARE = 0.08
CONTACT_SHARE_SHARE = 0.06
NAMESAKES_SHARE = 0.10
COLLEAGUES_SHARE = 0.05
FAMILY_SHARE = 0.05
GENERIC_SHARE = 0.08
JUNK_SHARE = 0.04

POPULATION_SHARES: dict[str, float] = {
    IMPATIENT: IMPATIENT_SHARE,
    SINGLE: SINGLE_SHARE,
    RETURNING: RETURNING_SHARE,
    CONTACT_SHARE: CONTACT_SHARE_SHARE,
    NAMESAKES: NAMESAKES_SHARE,
    COLLEAGUES: COLLEAGUES_SHARE,
    FAMILY: FAMILY_SHARE,
    GENERIC: GENERIC_SHARE,
    JUNK: JUNK_SHARE,
}
# Mean persons per generated unit, so that unit weights turn into the person shares above.
GROUP_MEAN_SIZE: dict[str, float] = {NAMESAKES: 3.0, COLLEAGUES: 2.5, FAMILY: 2.0}

LOCALE_SHARES: dict[str, float] = {RU: 0.75, PL: 0.13, EN: 0.12}
LANGUAGE_CODE = {RU: "ru", PL: "pl", EN: "en"}
COUNTRY = {RU: "RU", PL: "PL", EN: "US"}

TELEGRAM, WHATSAPP, AVITO, WEBFORM = "telegram", "whatsapp", "avito", "webform"
CHANNELS = (TELEGRAM, WHATSAPP, AVITO, WEBFORM)
CHANNEL_WEIGHTS = (0.30, 0.30, 0.25, 0.15)
GENERIC_AVITO_SHARE = 0.8

# --- density and timing ---------------------------------------------------------------------------
PERSONS_PER_DAY = 70
DAY = 86_400
MINUTE = 60
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 4, 7, 10, 11, 11, 9, 9, 10, 10, 10, 9, 8, 7, 6, 4, 3, 2)
IMPATIENT_GAP_MINUTES = (1, 15)
FOLLOW_UP_DAYS_MAX = 5
FOLLOW_UP_COUNTS = (0, 1, 2, 3, 4, 5)
FOLLOW_UP_WEIGHTS = (15, 27, 23, 17, 10, 8)
IMPATIENT_FOLLOW_UP_SHARE = 0.6
RETURN_AFTER_DAYS = (14, 60)
DEFAULT_START = "2026-10-01T00:00:00Z"

# --- how people present themselves ----------------------------------------------------------------
EMAIL_SHARE = 0.6  # persons who have an e-mail they might type
WEBFORM_EMAIL_SHARE = 0.45  # of those, how often they type it on the form
TG_USERNAME_SHARE = 0.6
TG_LAST_NAME_SHARE = 0.4
AVITO_INITIAL_SHARE = 0.4
DIMINUTIVE_SHARE = 0.35
LATIN_SHARE = 0.3
POPULAR_NAME_SHARE = 0.7
WEB_VISITOR_ID_SHARE = 0.9
CONTACT_WITHOUT_PLUS_SHARE = 0.7

RU_MOBILE_PREFIXES = (
    "912",
    "916",
    "926",
    "903",
    "905",
    "909",
    "915",
    "917",
    "919",
    "921",
    "925",
    "950",
    "951",
    "960",
    "961",
    "977",
    "985",
    "999",
    "922",
    "937",
    "953",
    "964",
)
RU_LANDLINE_PREFIXES = ("495", "499", "812", "343", "843")
PL_MOBILE_PREFIXES = (
    "501",
    "502",
    "504",
    "508",
    "511",
    "512",
    "530",
    "535",
    "600",
    "601",
    "605",
    "660",
    "665",
    "691",
    "695",
    "721",
    "724",
    "781",
    "785",
    "790",
    "880",
    "885",
)
US_AREA_CODES = ("212", "415", "646", "718", "312", "305", "617", "206", "512", "303", "404", "702")
# Coprime with 10, so k -> (k * multiplier + offset) mod 10^n is a permutation, and with the prefix
# cycling over k the pair (prefix, rest) repeats only after lcm(prefixes, 10^n) numbers: phones are
# unique without remembering the ones already handed out.
PHONE_PERMUTATION_MULTIPLIER = 7_654_321
US_EXCHANGE_FLOOR = 2_000_000

BUSINESS_WHATSAPP = "whatsapp:+74951234567"
AVITO_BUSINESS_ID = 94_235_311
AVITO_ITEMS = 40
PAGE_URLS = (
    "https://example.com/contacts",
    "https://example.com/services",
    "https://example.com/",
    "https://example.com/promo",
)
TELEGRAM_UPDATE_ID_BASE = 700_000_000
TELEGRAM_USER_ID_BASE = 100_000_000
TELEGRAM_USER_ID_STEP = 5_000
AVITO_AUTHOR_ID_BASE = 10_000_000
AVITO_AUTHOR_ID_STEP = 500
NAME_POOL_SIZE = 3_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """One true customer: who they are, not how a channel shows them."""

    person_id: str
    population: str
    locale: str
    female: bool
    first: str
    last: str
    phone: str  # E.164
    email: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramAccount:
    user_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatsAppAccount:
    e164: str
    profile_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AvitoAccount:
    author_id: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """What one run produced."""

    persons: int
    events: int
    seconds: float
    per_population: dict[str, int]


@dataclass(slots=True)
class _Reach:
    """The accounts one person has used so far; mutable because a story creates them as it unfolds.

    Lives only while one unit is generated, so nothing per person outlives it.
    """

    person: Person
    telegram: TelegramAccount | None = None
    whatsapp: WhatsAppAccount | None = None
    avito: AvitoAccount | None = None
    visitor_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _NamePools:
    """Name lists per locale and gender, drawn once from Faker so that frequencies follow Faker's."""

    def __init__(self, seed: int) -> None:
        self.first: dict[tuple[str, bool], list[str]] = {}
        self.last: dict[tuple[str, bool], list[str]] = {}
        for offset, locale in enumerate((RU, PL, EN)):
            fake = Faker(locale)
            fake.seed_instance(seed * 31 + offset)
            for female in (False, True):
                first_fn = fake.first_name_female if female else fake.first_name_male
                last_fn = fake.last_name_female if female else fake.last_name_male
                self.first[(locale, female)] = [first_fn() for _ in range(NAME_POOL_SIZE // 3)]
                self.last[(locale, female)] = [last_fn() for _ in range(NAME_POOL_SIZE)]


def feminine_surname(last: str, locale: str) -> str:
    """The wife's form of a husband's surname (Петров → Петрова, Kowalski → Kowalska)."""
    if locale == RU:
        if last.endswith(("ов", "ев", "ёв", "ин", "ын")):
            return last + "а"
        if last.endswith("ский"):
            return last[:-4] + "ская"
        if last.endswith("цкий"):
            return last[:-4] + "цкая"
    if locale == PL and last.endswith(("ski", "cki", "dzki")):
        return last[:-1] + "a"
    return last


def latin(name: str) -> str:
    """How a person spells their name in Latin letters."""
    return vocab.LATIN_SPELLING.get(name) or unidecode(name).replace("'", "")


def _ascii_key(name: str) -> str:
    return "".join(ch for ch in latin(name).lower() if ch.isalnum())


def utc_text(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_start(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


class _DayBuckets:
    """Per-day event buckets written out in time order once no later event can fall into them."""

    def __init__(self, out: IO[str], start_ts: int) -> None:
        self._out = out
        self._start = start_ts
        self._buckets: dict[int, list[tuple[int, int, str]]] = {}
        self._next_day = 0
        self._last_day = 0

    def add(self, ts: int, seq: int, line: str) -> None:
        day = (ts - self._start) // DAY
        self._buckets.setdefault(day, []).append((ts, seq, line))
        self._last_day = max(self._last_day, day)

    def flush_before(self, day: int) -> None:
        while self._next_day < day:
            bucket = self._buckets.pop(self._next_day, None)
            if bucket:
                bucket.sort()
                self._out.writelines(line for _, _, line in bucket)
            self._next_day += 1

    def flush_all(self) -> None:
        self.flush_before(self._last_day + 1)


class TrafficGenerator:
    """Generates persons unit by unit (one person, or a group) and emits their raw events."""

    def __init__(self, *, seed: int, start_ts: int, out: IO[str], truth: IO[str]) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.start_ts = start_ts
        self.pools = _NamePools(seed)
        self._buckets = _DayBuckets(out, start_ts)
        self._truth = truth
        self._hour_cum = list(accumulate(HOUR_WEIGHTS))
        self._locales = list(LOCALE_SHARES)
        self._locale_cum = list(accumulate(LOCALE_SHARES.values()))
        self._channel_cum = list(accumulate(CHANNEL_WEIGHTS))
        pops = list(POPULATION_SHARES)
        self._pops = pops
        self._pop_cum = list(accumulate(POPULATION_SHARES[p] / GROUP_MEAN_SIZE.get(p, 1.0) for p in pops))
        self._scenarios: dict[str, Callable[[int, int], int]] = {
            IMPATIENT: self._impatient,
            SINGLE: self._single,
            RETURNING: self._returning,
            CONTACT_SHARE: self._contact_share,
            NAMESAKES: self._namesakes,
            COLLEAGUES: self._colleagues,
            FAMILY: self._family,
            GENERIC: self._generic,
            JUNK: self._junk,
        }
        self.persons = 0
        self.events = 0
        self.per_population: dict[str, int] = dict.fromkeys(pops, 0)
        self._remaining = 0
        # Monotonic counters with random strides: unique by construction, deterministic per seed.
        self._update_id = TELEGRAM_UPDATE_ID_BASE + self.rng.randrange(10_000_000)
        self._tg_message_id = self.rng.randrange(1_000, 50_000)
        self._tg_user_id = TELEGRAM_USER_ID_BASE + self.rng.randrange(1_000_000)
        self._avito_author = AVITO_AUTHOR_ID_BASE + self.rng.randrange(1_000_000)
        self._uniq = 0
        self._unit_seq = 0  # persons made so far in the current unit: their ids follow self.persons
        self._phone_counts: dict[str, int] = {}
        self._phone_offset = self.rng.randrange(10_000_000)
        self._account_sid = f"AC{self.rng.getrandbits(128):032x}"
        self._items = [3_000_000_000 + self.rng.randrange(1_000_000_000) for _ in range(AVITO_ITEMS)]
        self._emails: set[str] = set()
        self._usernames: set[str] = set()

    # --- driver ------------------------------------------------------------------------------------
    def run(self, persons: int, days: int) -> None:
        while self.persons < persons:
            day = self.persons * days // persons
            self._buckets.flush_before(day)
            hour = self.rng.choices(range(24), cum_weights=self._hour_cum)[0]
            ts = self.start_ts + day * DAY + hour * 3600 + self.rng.randrange(3600)
            population = self.rng.choices(self._pops, cum_weights=self._pop_cum)[0]
            self._remaining = persons - self.persons
            made = self._scenarios[population](ts, self._remaining)
            self.per_population[population] += made
            self.persons += made
        self._buckets.flush_all()

    # --- identities --------------------------------------------------------------------------------
    def _next_uniq(self) -> int:
        self._uniq += 1
        return self._uniq

    def _hex_id(self, width: int = 32) -> str:
        """A random-looking hex id that is unique: a counter in its low bits."""
        counter = self._next_uniq()
        return f"{self.rng.getrandbits((width - 8) * 4):0{width - 8}x}{counter:08x}"

    def _phone(self, country: str, *, landline: bool = False) -> str:
        """A new, never handed out number of the country, in E.164."""
        prefixes: tuple[str, ...]
        if country == "RU":
            prefixes, digits, cc = (RU_LANDLINE_PREFIXES if landline else RU_MOBILE_PREFIXES), 7, "+7"
        elif country == "PL":
            prefixes, digits, cc = PL_MOBILE_PREFIXES, 6, "+48"
        else:
            prefixes, digits, cc = US_AREA_CODES, 7, "+1"
        kind = f"{country}{landline}"
        modulus = 10**digits
        while True:
            k = self._phone_counts.get(kind, 0)
            self._phone_counts[kind] = k + 1
            prefix = prefixes[k % len(prefixes)]
            if country == "US":
                # The exchange must start with 2-9: draw the last seven digits from 2000000-9999999.
                sub = US_EXCHANGE_FLOOR + (k * PHONE_PERMUTATION_MULTIPLIER + self._phone_offset) % (
                    modulus - US_EXCHANGE_FLOOR
                )
            else:
                sub = (k * PHONE_PERMUTATION_MULTIPLIER + self._phone_offset) % modulus
            rest = f"{sub:0{digits}d}"
            # Every prefix is a valid range (checked by the tests with phonenumbers), so only the
            # numbers the normalizer calls placeholders or US service exchanges need skipping; full
            # validation here would cost a third of the run time.
            if len(set(prefix + rest)) <= 2 or (country == "US" and (rest[:3] == "555" or rest[1:3] == "11")):
                continue
            return f"{cc}{prefix}{rest}"

    def _email(self, first: str, last: str, locale: str) -> str:
        rng = self.rng
        f, la = _ascii_key(first) or "user", _ascii_key(last) or "mail"
        style = rng.randrange(6)
        local = (
            f"{f}.{la}",
            f"{f[0]}.{la}",
            f"{la}.{f}",
            f"{f}{la}{rng.randint(70, 99)}",
            f"{la}{rng.randint(1, 999)}",
            f"{f}_{rng.randint(1, 9999)}",
        )[style]
        domain = rng.choice(vocab.EMAIL_DOMAINS[locale])
        email = f"{local}@{domain}"
        while email in self._emails:  # a mailbox has one owner; namesakes get a number
            email = f"{local}{rng.randint(1, 9999)}@{domain}"
        self._emails.add(email)
        return email

    def _new_person(
        self,
        population: str,
        *,
        locale: str | None = None,
        female: bool | None = None,
        first: str | None = None,
        last: str | None = None,
        phone: str | None = None,
        with_email: bool | None = None,
    ) -> Person:
        rng = self.rng
        if locale is None:
            locale = rng.choices(self._locales, cum_weights=self._locale_cum)[0]
        if female is None:
            female = rng.random() < 0.45
        if first is None:
            popular = vocab.POPULAR_FIRST[locale][1 if female else 0]
            first = (
                rng.choice(popular)
                if rng.random() < POPULAR_NAME_SHARE
                else rng.choice(self.pools.first[(locale, female)])
            )
        if last is None:
            last = rng.choice(self.pools.last[(locale, female)])
        if with_email is None:
            with_email = rng.random() < EMAIL_SHARE
        self._unit_seq += 1
        return Person(
            person_id=f"P{self.persons + self._unit_seq:07d}",
            population=population,
            locale=locale,
            female=female,
            first=first,
            last=last,
            phone=phone or self._phone(COUNTRY[locale]),
            email=self._email(first, last, locale) if with_email else None,
        )

    def _begin_unit(self) -> None:
        self._unit_seq = 0

    def _shown_first(self, person: Person) -> str:
        """The first name as the person types it into a profile: full, short, or in Latin letters."""
        rng = self.rng
        name = person.first
        dims = vocab.DIMINUTIVES.get(name)
        if dims and rng.random() < DIMINUTIVE_SHARE:
            name = rng.choice(dims)
        if person.locale == RU and rng.random() < LATIN_SHARE:
            name = latin(name)
        return name

    def _telegram_account(self, person: Person) -> TelegramAccount:
        rng = self.rng
        self._tg_user_id += rng.randint(1, TELEGRAM_USER_ID_STEP)
        first = self._shown_first(person)
        if rng.random() < 0.05:
            first = rng.choice(vocab.EMOJI_NICKS).format(n=first)
        last: str | None = None
        if rng.random() < TG_LAST_NAME_SHARE:
            last = latin(person.last) if first.isascii() else person.last
        username: str | None = None
        if rng.random() < TG_USERNAME_SHARE:
            f, la = _ascii_key(self._shown_first(person)) or "user", _ascii_key(person.last) or "x"
            base = (
                f"{f}_{la[0]}",
                f"{la}{rng.randint(1, 99)}",
                f"{f}{la}",
                f"{f}_{rng.randint(1980, 2008)}",
            )[rng.randrange(4)]
            username = base
            while username in self._usernames:  # Telegram usernames are unique
                username = f"{base}{rng.randint(1, 9999)}"
            self._usernames.add(username)
        return TelegramAccount(
            user_id=self._tg_user_id,
            first_name=first,
            last_name=last,
            username=username,
            language_code=LANGUAGE_CODE[person.locale],
        )

    def _whatsapp_account(self, person: Person, phone: str | None = None) -> WhatsAppAccount:
        rng = self.rng
        roll = rng.random()
        if roll < 0.10:
            name = ""
        elif roll < 0.25:
            name = rng.choice(vocab.EMOJI_NICKS).format(n=self._shown_first(person))
        elif roll < 0.35:
            name = f"{person.first} {person.last}"
        else:
            name = self._shown_first(person)
        return WhatsAppAccount(e164=phone or person.phone, profile_name=name)

    def _avito_account(self, person: Person) -> AvitoAccount:
        self._avito_author += self.rng.randint(1, AVITO_AUTHOR_ID_STEP)
        name = person.first
        dims = vocab.DIMINUTIVES.get(name)
        if dims and self.rng.random() < 0.2:
            name = self.rng.choice(dims)
        if self.rng.random() < AVITO_INITIAL_SHARE:
            name = f"{name} {person.last[0]}."
        return AvitoAccount(author_id=self._avito_author, name=name)

    def _form_name(self, person: Person) -> str:
        roll = self.rng.random()
        if roll < 0.4:
            return f"{person.first} {person.last}"
        if roll < 0.6:
            return f"{person.last} {person.first}"
        if roll < 0.9:
            return person.first
        return self._shown_first(person)

    def typed_phone(self, e164: str) -> str:
        """A phone written the way people type it on a form."""
        rng = self.rng
        if e164.startswith("+7"):
            d = e164[2:]
            return rng.choice(
                (
                    f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}",
                    f"+7 {d[:3]} {d[3:6]}-{d[6:8]}-{d[8:]}",
                    f"+7{d}",
                    f"8{d}",
                    d,
                    f"8-{d[:3]}-{d[3:6]}-{d[6:8]}-{d[8:]}",
                    f"+7 ({d[:3]}) {d[3:6]} {d[6:8]} {d[8:]}",
                    f"7{d}",
                )
            )
        if e164.startswith("+48"):
            d = e164[3:]
            return rng.choice((f"+48 {d[:3]} {d[3:6]} {d[6:]}", f"+48{d}", f"0048{d}", f"+48 {d[:3]}-{d[3:6]}-{d[6:]}"))
        d = e164[2:]
        return rng.choice(
            (
                f"+1 ({d[:3]}) {d[3:6]}-{d[6:]}",
                f"+1 {d[:3]} {d[3:6]} {d[6:]}",
                f"+1{d}",
                f"({d[:3]}) {d[3:6]}-{d[6:]}",
                f"{d[:3]}-{d[3:6]}-{d[6:]}",
            )
        )

    # --- texts -------------------------------------------------------------------------------------
    def _question(self, locale: str, template: str | None = None) -> str:
        """A specific question from the template pool (namesakes pass one template to share)."""
        rng = self.rng
        if locale == RU:
            text = (template or rng.choice(vocab.TEMPLATES_RU)).format(
                service=rng.choice(vocab.SERVICES_RU),
                car=rng.choice(vocab.CARS),
                when=rng.choice(vocab.WHEN_RU),
                part=rng.choice(vocab.PARTS_RU),
                product=rng.choice(vocab.PRODUCTS_RU),
                city=rng.choice(vocab.CITIES_RU),
                tour=rng.choice(vocab.TOURS_RU),
                month=rng.choice(vocab.MONTHS_RU),
            )
            # Capitalize Cyrillic only: "iPhone 13" must keep its own spelling.
            return text if text[:1].isascii() else text[:1].upper() + text[1:]
        if locale == PL:
            return rng.choice(vocab.TEMPLATES_PL).format(car=rng.choice(vocab.CARS), when=rng.choice(vocab.WHEN_PL))
        return rng.choice(vocab.TEMPLATES_EN).format(car=rng.choice(vocab.CARS), when=rng.choice(vocab.WHEN_EN))

    def rephrase(self, text: str, locale: str) -> str:
        """The same question retyped on another channel: case, punctuation, greeting, typo, word order."""
        rng = self.rng
        for _ in range(rng.randint(1, 2)):
            op = rng.randrange(6)
            if op == 0:
                text = text.lower()
            elif op == 1:
                text = text.rstrip("?!.") + rng.choice(("", "??", "?!", "..."))
            elif op == 2:
                text = rng.choice(vocab.GREETINGS[locale]) + text[:1].lower() + text[1:]
            elif op == 3:
                words = text.split()
                long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
                if long_words:
                    i = rng.choice(long_words)
                    w = words[i]
                    j = rng.randrange(1, len(w) - 2)
                    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
                    text = " ".join(words)
            elif op == 4:
                words = text.rstrip("?!.").split()
                if len(words) >= 4:
                    k = rng.randint(2, min(3, len(words) - 2))
                    moved = [*words[-k:], *words[:-k]]
                    text = " ".join(moved) + "?"
            else:
                text = text.replace(",", "").replace("ё", "е")
        return text

    # --- events ------------------------------------------------------------------------------------
    def _emit(
        self,
        person: Person,
        channel: str,
        ts: int,
        payload: dict[str, Any],
        profile: str,
        lookups: dict[str, Any] | None = None,
    ) -> None:
        self.events += 1
        event_id = f"s{self.seed}e{self.events:08d}"
        envelope: dict[str, Any] = {
            "id": event_id,
            "channel": channel,
            "received_at": utc_text(ts),
            "payload": payload,
        }
        if lookups is not None:
            envelope["lookups"] = lookups
        self._buckets.add(ts, self.events, json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._truth.write(
            json.dumps(
                {
                    "event_id": event_id,
                    "person_id": person.person_id,
                    "population": person.population,
                    "channel": channel,
                    "profile": profile if profile else f"event:{event_id}",
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
        )

    def _telegram(self, reach: _Reach, ts: int, text: str | None, *, contact: str | None = None) -> None:
        if reach.telegram is None:
            reach.telegram = self._telegram_account(reach.person)
        acct = reach.telegram
        self._update_id += 1
        self._tg_message_id += 1
        sender: dict[str, Any] = {"id": acct.user_id, "is_bot": False, "first_name": acct.first_name}
        chat: dict[str, Any] = {"id": acct.user_id, "type": "private", "first_name": acct.first_name}
        if acct.last_name:
            sender["last_name"] = acct.last_name
            chat["last_name"] = acct.last_name
        if acct.username:
            sender["username"] = acct.username
            chat["username"] = acct.username
        sender["language_code"] = acct.language_code
        message: dict[str, Any] = {
            "message_id": self._tg_message_id,
            "date": ts - self.rng.randint(0, 2),
            "from": sender,
            "chat": chat,
        }
        if contact is not None:
            shared: dict[str, Any] = {
                "phone_number": contact,
                "first_name": acct.first_name,
                "user_id": acct.user_id,
            }
            if acct.last_name:
                shared["last_name"] = acct.last_name
            message["contact"] = shared
        else:
            message["text"] = text
        self._emit(
            reach.person,
            TELEGRAM,
            ts,
            {"update_id": self._update_id, "message": message},
            f"telegram:{acct.user_id}",
        )

    def _whatsapp(self, reach: _Reach, ts: int, text: str) -> None:
        if reach.whatsapp is None:
            reach.whatsapp = self._whatsapp_account(reach.person)
        acct = reach.whatsapp
        sid = f"SM{self._hex_id()}"
        sender = f"whatsapp:{acct.e164}"
        payload = {
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ProfileName": acct.profile_name,
            "MessageType": "text",
            "SmsSid": sid,
            "WaId": acct.e164[1:],
            "SmsStatus": "received",
            "Body": text,
            "To": BUSINESS_WHATSAPP,
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self._account_sid,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        self._emit(reach.person, WHATSAPP, ts, payload, sender)

    def _avito(self, reach: _Reach, ts: int, text: str) -> None:
        if reach.avito is None:
            reach.avito = self._avito_account(reach.person)
            reach.extra["item"] = self.rng.choice(self._items)
        acct = reach.avito
        item = int(reach.extra["item"])
        chat_id = f"u2i-{acct.author_id:x}~{item % 1_000_000}"
        value = {
            "id": self._hex_id(),
            "chat_id": chat_id,
            "user_id": AVITO_BUSINESS_ID,
            "author_id": acct.author_id,
            "created": ts,
            "type": "text",
            "chat_type": "u2i",
            "content": {"text": text},
            "item_id": item,
            "published_at": utc_text(ts),
        }
        payload = {
            "id": self._hex_id(),
            "version": "v3.0.0",
            "timestamp": ts,
            "payload": {"type": "message", "value": value},
        }
        lookups = {
            "chat": {
                "id": chat_id,
                "users": [
                    {"id": AVITO_BUSINESS_ID, "name": vocab.BUSINESS_NAME},
                    {"id": acct.author_id, "name": acct.name},
                ],
                "context": {"type": "item", "value": {"id": item, "title": f"Объявление {item}"}},
            }
        }
        self._emit(reach.person, AVITO, ts, payload, f"avito:{acct.author_id}", lookups)

    def _webform(
        self,
        reach: _Reach,
        ts: int,
        text: str,
        *,
        phone: str | None = None,
        email: str | None = None,
        name: str | None = None,
        new_device: bool = False,
    ) -> None:
        person = reach.person
        if reach.visitor_id is None or new_device:
            reach.visitor_id = self._hex_id() if self.rng.random() < WEB_VISITOR_ID_SHARE else ""
        if email is None and person.email and self.rng.random() < WEBFORM_EMAIL_SHARE:
            email = person.email
        payload = {
            "form_id": "contact",
            "name": name if name is not None else self._form_name(person),
            "phone": phone if phone is not None else self.typed_phone(person.phone),
            "email": email or "",
            "message": text,
            "page_url": self.rng.choice(PAGE_URLS),
            "visitor_id": reach.visitor_id,
        }
        self._emit(person, WEBFORM, ts, payload, f"webform:{reach.visitor_id}" if reach.visitor_id else "")

    def _say(self, reach: _Reach, channel: str, ts: int, text: str) -> None:
        if channel == TELEGRAM:
            self._telegram(reach, ts, text)
        elif channel == WHATSAPP:
            self._whatsapp(reach, ts, text)
        elif channel == AVITO:
            self._avito(reach, ts, text)
        else:
            self._webform(reach, ts, text)

    def _channel(self) -> str:
        return self.rng.choices(CHANNELS, cum_weights=self._channel_cum)[0]

    def _chat(self, reach: _Reach, channel: str, ts: int, first_text: str) -> int:
        """A first message and 0–3 follow-ups over the next days on one channel; returns the last time."""
        rng = self.rng
        self._say(reach, channel, ts, first_text)
        for _ in range(rng.choices(FOLLOW_UP_COUNTS, weights=FOLLOW_UP_WEIGHTS)[0]):
            ts += rng.randint(5 * MINUTE, FOLLOW_UP_DAYS_MAX * DAY // 2)
            text = (
                rng.choice(vocab.FOLLOW_UPS[reach.person.locale])
                if rng.random() < 0.6
                else self._question(reach.person.locale)
            )
            self._say(reach, channel, ts, text)
        return ts

    # --- scenarios: each makes one unit at time ts and returns how many persons it created ----------
    def _impatient(self, ts: int, _room: int) -> int:
        self._begin_unit()
        person = self._new_person(IMPATIENT)
        reach = _Reach(person)
        question = self._question(person.locale)
        channels = self.rng.sample(CHANNELS, self.rng.randint(2, 4))
        for i, channel in enumerate(channels):
            self._say(reach, channel, ts, question if i == 0 else self.rephrase(question, person.locale))
            ts += self.rng.randint(*IMPATIENT_GAP_MINUTES) * MINUTE + self.rng.randrange(MINUTE)
        if self.rng.random() < IMPATIENT_FOLLOW_UP_SHARE:  # then they settle on the channel that answered
            self._chat(
                reach,
                self.rng.choice(channels),
                ts + self.rng.randint(1, 120) * MINUTE,
                self.rng.choice(vocab.FOLLOW_UPS[person.locale]),
            )
        return 1

    def _single(self, ts: int, _room: int) -> int:
        self._begin_unit()
        person = self._new_person(SINGLE)
        self._chat(_Reach(person), self._channel(), ts, self._question(person.locale))
        return 1

    def _returning(self, ts: int, _room: int) -> int:
        rng = self.rng
        self._begin_unit()
        kind = rng.randrange(3)
        person = self._new_person(RETURNING, with_email=kind != 2 or None)
        reach = _Reach(person)
        later = ts + rng.randint(*RETURN_AFTER_DAYS) * DAY + rng.randrange(-6, 6) * 3600
        if kind == 0:  # new phone, same e-mail
            self._webform(reach, ts, self._question(person.locale), email=person.email)
            if rng.random() < 0.5:
                self._whatsapp(reach, ts + rng.randint(2, 30) * MINUTE, self._question(person.locale))
            new_phone = self._phone(COUNTRY[person.locale])
            self._webform(
                reach,
                later,
                self._question(person.locale),
                phone=self.typed_phone(new_phone),
                email=person.email,
                new_device=rng.random() < 0.5,
            )
            if rng.random() < 0.5:
                reach.whatsapp = self._whatsapp_account(person, new_phone)
                self._whatsapp(reach, later + rng.randint(1, 60) * MINUTE, self._question(person.locale))
        elif kind == 1:  # new e-mail, same phone
            self._webform(reach, ts, self._question(person.locale), email=person.email)
            new_email = self._email(person.first, person.last, person.locale)
            if rng.random() < 0.5:
                self._webform(
                    reach,
                    later,
                    self._question(person.locale),
                    email=new_email,
                    new_device=rng.random() < 0.5,
                )
            else:
                self._whatsapp(reach, later, self._question(person.locale))
        else:  # same Telegram account
            self._chat(reach, TELEGRAM, ts, self._question(person.locale))
            self._chat(reach, TELEGRAM, later, self._question(person.locale))
        return 1

    def _contact_share(self, ts: int, _room: int) -> int:
        rng = self.rng
        self._begin_unit()
        person = self._new_person(CONTACT_SHARE)
        reach = _Reach(person)
        self._telegram(reach, ts, self._question(person.locale))
        digits = person.phone[1:]
        shared = digits if rng.random() < CONTACT_WITHOUT_PLUS_SHARE else person.phone
        self._telegram(reach, ts + rng.randint(1, 20) * MINUTE, None, contact=shared)
        # WhatsApp before the Telegram chat or days after it.
        wa_ts = ts - rng.randint(1, 48) * 3600 if rng.random() < 0.3 else ts + rng.randint(1, 5 * 24) * 3600
        wa_ts = max(wa_ts, ts - (ts - self.start_ts) % DAY)  # stay inside the unit's day or later
        self._whatsapp(reach, wa_ts, self._question(person.locale))
        return 1

    def _namesakes(self, ts: int, room: int) -> int:
        rng = self.rng
        self._begin_unit()
        size = min(room, rng.randint(2, 4))
        template = rng.choice(vocab.TEMPLATES_RU)
        if rng.random() < 0.6:
            first, last, female = rng.choice(vocab.COMMON_FULL_NAMES)
            people = [
                self._new_person(NAMESAKES, locale=RU, female=female, first=first, last=last) for _ in range(size)
            ]
        else:
            first, female = rng.choice(vocab.COMMON_FIRST_ONLY)
            people = [self._new_person(NAMESAKES, locale=RU, female=female, first=first) for _ in range(size)]
        for person in people:
            when = ts + rng.randint(0, 8 * 60) * MINUTE
            reach = _Reach(person)
            text = self._question(RU, template)
            if rng.random() < 0.4:  # some of them are impatient too
                for channel in rng.sample(CHANNELS, 2):
                    self._say(reach, channel, when, self.rephrase(text, RU))
                    when += rng.randint(*IMPATIENT_GAP_MINUTES) * MINUTE
            else:
                self._chat(reach, self._channel(), when, text)
        return size

    def _colleagues(self, ts: int, room: int) -> int:
        rng = self.rng
        self._begin_unit()
        size = min(room, rng.randint(2, 3))
        mobile = rng.random() < 0.5
        office = self._phone("RU", landline=not mobile)
        company = rng.choice(vocab.COMPANIES)
        office_whatsapp = WhatsAppAccount(e164=office, profile_name=company if rng.random() < 0.6 else "")
        for _ in range(size):
            person = self._new_person(COLLEAGUES, locale=RU)
            reach = _Reach(person)
            when = ts + rng.randint(0, 3 * DAY // MINUTE) * MINUTE
            self._webform(reach, when, self._question(RU), phone=self.typed_phone(office))
            if mobile and rng.random() < 0.5:
                reach.whatsapp = office_whatsapp
                self._whatsapp(reach, when + rng.randint(1, 120) * MINUTE, self._question(RU))
            if rng.random() < 0.3:
                self._telegram(reach, when + rng.randint(1, 48) * 3600, self._question(RU))
        return size

    def _family(self, ts: int, room: int) -> int:
        rng = self.rng
        self._begin_unit()
        if room < 2:
            return self._single(ts, room)
        locale = RU if rng.random() < 0.85 else PL
        husband = self._new_person(FAMILY, locale=locale, female=False)
        wife = self._new_person(
            FAMILY,
            locale=locale,
            female=True,
            last=feminine_surname(husband.last, locale),
            phone=husband.phone,
        )
        owner, other = (husband, wife) if rng.random() < 0.5 else (wife, husband)
        owner_reach, other_reach = _Reach(owner), _Reach(other)
        self._whatsapp(owner_reach, ts, self._question(locale))
        when = ts + rng.randint(1, 10 * 24) * 3600
        self._webform(other_reach, when, self._question(locale), phone=self.typed_phone(owner.phone))
        for reach in (owner_reach, other_reach):
            if rng.random() < 0.4:
                self._say(
                    reach,
                    rng.choice((TELEGRAM, AVITO)),
                    when + rng.randint(1, 72) * 3600,
                    self._question(locale),
                )
        return 2

    def _generic(self, ts: int, _room: int) -> int:
        rng = self.rng
        self._begin_unit()
        person = self._new_person(GENERIC)
        reach = _Reach(person)
        channel = AVITO if rng.random() < GENERIC_AVITO_SHARE else rng.choice((TELEGRAM, WHATSAPP))
        texts = vocab.GENERIC_TEXTS[person.locale]
        self._say(reach, channel, ts, rng.choice(texts))
        if rng.random() < 0.3:
            self._say(reach, channel, ts + rng.randint(1, 600) * MINUTE, rng.choice(texts))
        return 1

    def _junk(self, ts: int, _room: int) -> int:
        rng = self.rng
        self._begin_unit()
        person = self._new_person(JUNK)
        reach = _Reach(person)
        self._webform(
            reach,
            ts,
            self._question(person.locale),
            phone=rng.choice(vocab.JUNK_PHONES),
            email=rng.choice(vocab.JUNK_EMAILS) or None,
        )
        if rng.random() < 0.5:
            self._say(
                reach,
                rng.choice((TELEGRAM, WHATSAPP)),
                ts + rng.randint(5, 180) * MINUTE,
                self._question(person.locale),
            )
        return 1


@contextmanager
def _open_text(path: str) -> Iterator[IO[str]]:
    """A text file; ``.gz`` is compressed with mtime 0 so the bytes depend only on the seed."""
    if path == "-":
        yield sys.stdout
        return
    with open(path, "wb") as raw:
        if path.endswith(".gz"):
            with (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
                io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as text,
            ):
                yield text
        else:
            with io.TextIOWrapper(raw, encoding="utf-8", newline="\n", write_through=False) as text:
                yield text


def generate(
    *, persons: int, seed: int, out: str, truth: str, start: str = DEFAULT_START, days: int | None = None
) -> Summary:
    """Write the replay file and the truth file; see the module docstring for both formats."""
    began = time.perf_counter()
    days = days if days is not None else max(1, persons // PERSONS_PER_DAY)
    with _open_text(out) as out_file, _open_text(truth) as truth_file:
        gen = TrafficGenerator(seed=seed, start_ts=parse_start(start), out=out_file, truth=truth_file)
        gen.run(persons, days)
    return Summary(
        persons=gen.persons,
        events=gen.events,
        seconds=time.perf_counter() - began,
        per_population=gen.per_population,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="replay file (.jsonl or .jsonl.gz)")
    parser.add_argument("--truth", required=True, help="truth file (JSON Lines)")
    parser.add_argument("--start", default=DEFAULT_START, help="RFC 3339 start of the first day")
    parser.add_argument("--days", type=int, default=None, help=f"default: persons / {PERSONS_PER_DAY}")
    args = parser.parse_args(argv)
    if args.persons <= 0:
        parser.error("--persons must be positive")
    summary = generate(
        persons=args.persons, seed=args.seed, out=args.out, truth=args.truth, start=args.start, days=args.days
    )
    rate = summary.persons / summary.seconds if summary.seconds else 0.0
    print(
        f"persons {summary.persons}  events {summary.events}  "
        f"events/person {summary.events / summary.persons:.2f}  "
        f"{summary.seconds:.1f}s  {rate:,.0f} persons/s",
        file=sys.stderr,
    )
    for population, count in summary.per_population.items():
        print(f"  {population:<26} {count:>9}  {count / summary.persons:6.1%}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
