"""A small deterministic traffic generator for the scale tests and bench/scale.py.

Unlike bench.generate (realistic traffic for accuracy), every grouping decision here is the same in
any processing order: a person's events share a phone (WhatsApp's own number, a typed phone on the
form, Telegram's contact button), names are stable per person, texts differ between persons, and
persons who share a name arrive days apart. So sequential and concurrent resolution must produce the
same partition of events into persons, which is what the scale tests compare.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from app.export import person_roots
from store.base import BaseStore

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
FIRST = [
    "Иван",
    "Мария",
    "Пётр",
    "Анна",
    "Олег",
    "Елена",
    "Сергей",
    "Ольга",
    "Дмитрий",
    "Наталья",
    "Алексей",
    "Татьяна",
    "Павел",
    "Юлия",
    "Михаил",
    "Ирина",
    "Андрей",
    "Светлана",
    "Николай",
    "Ксения",
]
LAST = [
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
    "Сергеев",
    "Кузьмин",
    "Фролов",
    "Александров",
    "Дмитриев",
    "Королёв",
    "Гусев",
    "Киселёв",
    "Ильин",
    "Максимов",
]
GOODS = [
    "диван",
    "кресло",
    "стол",
    "шкаф",
    "комод",
    "кровать",
    "стеллаж",
    "тумбу",
    "пуф",
    "табурет",
    "зеркало",
    "вешалку",
    "полку",
    "матрас",
    "люстру",
    "ковёр",
    "штору",
    "лампу",
    "буфет",
    "витрину",
]
ASKS = [
    "Сколько стоит {g} модели {n}, есть ли доставка в {c}?",
    "Хочу заказать {g} артикул {n}, когда привезёте в {c}?",
    "Подскажите размеры {g} номер {n} и цену с доставкой в {c}",
    "Есть ли в наличии {g} {n}? Живу в {c}",
]
CITIES = ["Москву", "Тверь", "Казань", "Самару", "Пермь", "Омск", "Уфу", "Сочи", "Курск", "Тулу"]
GAP = timedelta(minutes=11)  # between persons' first messages: a name repeats ~15 days later


def _female(last: str, first: str) -> str:
    return (
        last + "а"
        if first in {"Мария", "Анна", "Елена", "Ольга", "Наталья", "Татьяна", "Юлия", "Ирина", "Светлана", "Ксения"}
        else last
    )


def lines(events: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """About `events` replay lines (JSON objects), in time order."""
    rnd = random.Random(seed)
    out: list[tuple[datetime, dict[str, Any]]] = []
    person = 0
    while len(out) < events:
        i = person
        person += 1
        first = FIRST[i % len(FIRST)]
        last = _female(LAST[(i // len(FIRST)) % len(LAST)], first)
        phone = f"+7912{1000000 + i:07d}"
        start = T0 + GAP * i
        text = rnd.choice(ASKS).format(g=rnd.choice(GOODS), n=100 + i, c=rnd.choice(CITIES))
        tg_id = 500000000 + i
        shape = rnd.random()
        plan: list[str] = ["whatsapp"]
        if shape < 0.35:
            plan = ["whatsapp", "telegram", "telegram_contact", "webform"]
        elif shape < 0.6:
            plan = ["webform", "whatsapp"]
        elif shape < 0.8:
            plan = ["telegram", "telegram_contact", "whatsapp", "whatsapp"]
        elif shape < 0.9:
            plan = ["telegram"]
        for n, kind in enumerate(plan):
            at = start + timedelta(seconds=40 * n + rnd.randint(0, 30))
            eid = f"s{seed}e{i:06d}n{n}"
            if kind == "whatsapp":
                sid = f"SM{seed:02d}{i:012d}{n:02d}" + "0" * 16
                payload: dict[str, Any] = {
                    "SmsMessageSid": sid,
                    "MessageSid": sid,
                    "SmsSid": sid,
                    "AccountSid": "AC" + "1" * 32,
                    "From": f"whatsapp:{phone}",
                    "To": "whatsapp:+74951234567",
                    "WaId": phone[1:],
                    "ProfileName": first,
                    "Body": text if n < 2 else f"{text} Жду ответа.",
                    "NumMedia": "0",
                    "MessageType": "text",
                    "SmsStatus": "received",
                    "NumSegments": "1",
                    "ApiVersion": "2010-04-01",
                }
                channel = "whatsapp"
            elif kind == "webform":
                payload = {
                    "form_id": "contact",
                    "name": f"{last} {first}",
                    "phone": "8" + phone[2:],
                    "email": f"client{i}@example.com",
                    "message": text,
                    "page_url": "https://example.com/contacts",
                    "visitor_id": f"{seed:04x}{i:028x}",
                }
                channel = "webform"
            else:
                message: dict[str, Any] = {
                    "message_id": 1000 + n,
                    "date": int(at.timestamp()),
                    "from": {"id": tg_id, "is_bot": False, "first_name": first, "last_name": last},
                    "chat": {"id": tg_id, "type": "private", "first_name": first},
                }
                if kind == "telegram_contact":
                    message["contact"] = {"phone_number": phone[1:], "first_name": first, "user_id": tg_id}
                else:
                    message["text"] = text
                payload = {"update_id": tg_id * 10 + n, "message": message}
                channel = "telegram"
            out.append(
                (
                    at,
                    {
                        "id": eid,
                        "channel": channel,
                        "received_at": at.isoformat().replace("+00:00", "Z"),
                        "payload": payload,
                    },
                )
            )
    out.sort(key=lambda x: (x[0], x[1]["id"]))
    return [o for _, o in out[:events]]


def write(path: str, events: int, *, seed: int = 7) -> int:
    with open(path, "w", encoding="utf-8") as f:
        for obj in lines(events, seed=seed):
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return events


async def partition(store: BaseStore) -> frozenset[frozenset[str]]:
    """Events grouped by the person they ended with: comparable across stores (ids may differ)."""
    roots = await person_roots(store)
    owner = {p.key: p.person_id async for p in store.iter_profiles()}
    groups: dict[str, set[str]] = defaultdict(set)
    async for m in store.iter_messages():
        groups[roots(owner[m.profile_key])].add(m.event_id)
    return frozenset(frozenset(g) for g in groups.values())


def iter_lines(events: int, *, seed: int = 7) -> Iterator[str]:
    for obj in lines(events, seed=seed):
        yield json.dumps(obj, ensure_ascii=False)


def truth(events: int, *, seed: int = 7) -> frozenset[frozenset[str]]:
    """The intended partition: a person's events are the ids sharing the `s<seed>e<person>` stem."""
    groups: dict[str, set[str]] = defaultdict(set)
    for obj in lines(events, seed=seed):
        groups[obj["id"].rsplit("n", 1)[0]].add(obj["id"])
    return frozenset(frozenset(g) for g in groups.values())
