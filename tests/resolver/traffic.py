"""Builders of real-format provider payloads for resolver tests (imported by the tests here)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from core.values import Channel, Envelope

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1000)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def tg(
    user: int, first: str, text: str, minute: float, *, last: str = "", username: str = "", contact: str | None = None
) -> Envelope:
    n = next(_ids)
    sender: dict[str, Any] = {"id": user, "is_bot": False, "first_name": first}
    if last:
        sender["last_name"] = last
    if username:
        sender["username"] = username
    message: dict[str, Any] = {
        "message_id": n,
        "date": int(at(minute).timestamp()),
        "from": sender,
        "chat": {"id": user, "type": "private", "first_name": first},
    }
    if contact:
        message["contact"] = {"phone_number": contact, "first_name": first, "user_id": user}
    else:
        message["text"] = text
    return Envelope(
        id=f"tg{n}", channel=Channel.TELEGRAM, received_at=at(minute), payload={"update_id": n, "message": message}
    )


def wa(phone: str, name: str, text: str, minute: float) -> Envelope:
    n = next(_ids)
    sid = f"SM{n:032x}"
    payload = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+74951234567",
        "WaId": phone.lstrip("+"),
        "ProfileName": name,
        "Body": text,
        "NumMedia": "0",
        "MessageType": "text",
    }
    return Envelope(id=f"wa{n}", channel=Channel.WHATSAPP, received_at=at(minute), payload=payload)


def avito(author: int, name: str, text: str, minute: float) -> Envelope:
    n = next(_ids)
    chat = f"u2i-{author}~1"
    ts = int(at(minute).timestamp())
    payload = {
        "id": f"w{n}",
        "version": "v3.0.0",
        "timestamp": ts,
        "payload": {
            "type": "message",
            "value": {
                "id": f"m{n}",
                "chat_id": chat,
                "user_id": 94235311,
                "author_id": author,
                "created": ts,
                "type": "text",
                "chat_type": "u2i",
                "content": {"text": text},
                "item_id": 3000123456,
            },
        },
    }
    lookups = {
        "chat": {"id": chat, "users": [{"id": 94235311, "name": "Автосервис «Мотор»"}, {"id": author, "name": name}]}
    }
    return Envelope(id=f"av{n}", channel=Channel.AVITO, received_at=at(minute), payload=payload, lookups=lookups)


def web(name: str, text: str, minute: float, *, phone: str = "", email: str = "", visitor: str = "") -> Envelope:
    n = next(_ids)
    payload = {"form_id": "contact", "name": name, "message": text, "page_url": "https://example.com/contacts"}
    if phone:
        payload["phone"] = phone
    if email:
        payload["email"] = email
    if visitor:
        payload["visitor_id"] = visitor
    return Envelope(id=f"web{n}", channel=Channel.WEBFORM, received_at=at(minute), payload=payload)
