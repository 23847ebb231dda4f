"""Avito Messenger webhook v3 → Message | Ignored (pure, shared by the webhook and replay).

The webhook does not carry the buyer's name or the listing: the live connector fetches the chat info
(`GET /messenger/v2/accounts/{uid}/chats/{chat_id}`) into `envelope.lookups["chat"]` before parsing,
and a replay file records that answer. Without it the message still parses, with an empty name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors._payload import Fields, check_channel, content_hash, mentioned, nonblank, unique
from core.errors import ParseError
from core.values import Channel, Envelope, Ignored, Message

CHANNEL = Channel.AVITO


def event_id(payload: Mapping[str, Any], received_at: datetime) -> str:
    """`avito:<payload.value.id>`; the subscription probe `{}` gets `avito:probe:<content hash>`."""
    if not payload:
        return f"avito:probe:{content_hash(payload, received_at)}"
    inner = payload.get("payload")
    value = inner.get("value") if isinstance(inner, Mapping) else None
    message_id = nonblank(value.get("id")) if isinstance(value, Mapping) else None
    if message_id is None:
        raise ParseError(CHANNEL, "payload.value.id", "missing")
    return f"avito:{message_id}"


def parse(envelope: Envelope, *, region: str = "RU") -> Message | Ignored:
    """Normalize one Avito messenger webhook.

    Avito's empty subscription probe `{}`, our own outgoing messages (echoed back with
    `author_id == user_id`) and Avito's system notices are Ignored. Raises ParseError for missing or
    mistyped fields, including a `lookups.chat` that belongs to another chat.
    """
    body = check_channel(envelope, CHANNEL)
    if not body.raw:
        return _ignored(envelope, "probe")
    event = body.req_obj("payload")
    event_type = event.opt_str("type", "message")
    if event_type != "message":
        return _ignored(envelope, f"{event_type} event")
    value = event.req_obj("value")

    message_id = value.req_str("id")
    account_id = value.req_int("user_id")
    author_id = value.req_int("author_id")
    kind = value.opt_str("type", "text")
    if kind == "system":
        return _ignored(envelope, "system message")
    if author_id == account_id:
        return _ignored(envelope, "own message")
    chat_id = value.req_str("chat_id")
    sent_at = value.unix_time("created")

    content = value.opt_obj("content")
    text = content.opt_str("text") if content is not None else ""
    meta: dict[str, str] = {"kind": kind}
    chat_type = value.opt_str("chat_type")
    if chat_type:
        meta["chat_type"] = chat_type
    item_id = value.opt_int("item_id")
    if item_id is not None:
        meta["item_id"] = str(item_id)

    name = ""
    chat = _chat_info(envelope, chat_id)
    if chat is not None:
        name = _author_name(chat, author_id)
        meta.update(_listing(chat))

    return Message(
        event_id=envelope.id,
        channel=CHANNEL,
        account=str(account_id),
        user_id=str(author_id),
        chat_id=chat_id,
        provider_message_id=message_id,
        sent_at=sent_at,
        received_at=envelope.received_at,
        text=text,
        name=name,
        identifiers=unique(mentioned(text, region)),
        meta=meta,
    )


def _chat_info(envelope: Envelope, chat_id: str) -> Fields | None:
    lookups = Fields(CHANNEL, envelope.lookups, "lookups")
    chat = lookups.opt_obj("chat")
    if chat is None:
        return None
    # A cached answer filed under the wrong chat would give the buyer someone else's name.
    looked_up = chat.opt_str("id")
    if looked_up and looked_up != chat_id:
        raise chat.error("id", f"chat info is for another chat than {chat_id}")
    return chat


def _author_name(chat: Fields, author_id: int) -> str:
    for i, entry in enumerate(chat.opt_list("users")):
        user = Fields(CHANNEL, entry, chat.path(f"users[{i}]"))
        if user.opt_int("id") == author_id:
            return " ".join(user.opt_str("name").split())
    return ""


def _listing(chat: Fields) -> dict[str, str]:
    """The listing the chat is about: the deal context a manager needs first."""
    context = chat.opt_obj("context")
    listing = context.opt_obj("value") if context is not None else None
    if listing is None:
        return {}
    meta: dict[str, str] = {}
    item_id = listing.opt_int("id")
    if item_id is not None:
        meta["item_id"] = str(item_id)
    for key in ("title", "url"):
        value = listing.opt_str(key)
        if value:
            meta[f"item_{key}"] = value
    return meta


def _ignored(envelope: Envelope, reason: str) -> Ignored:
    return Ignored(event_id=envelope.id, channel=CHANNEL, reason=reason)
