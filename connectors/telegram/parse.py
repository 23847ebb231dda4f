"""Telegram `Update` → Message | Ignored (pure, shared by the webhook, long polling and replay)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors._payload import Fields, check_channel, full_name, mentioned, unique
from core.errors import ParseError
from core.phones import normalize_phone
from core.values import Channel, Envelope, Identifier, IdKind, Ignored, Message, Provenance

CHANNEL = Channel.TELEGRAM

# An update from Telegram does not name the bot it was sent to; one Stitch install runs one bot.
ACCOUNT = "bot"

# Content that may arrive without text; the first one present names the message's kind.
_CONTENT_KINDS = (
    "photo",
    "sticker",
    "video",
    "animation",
    "video_note",
    "voice",
    "audio",
    "document",
    "contact",
    "location",
    "venue",
    "poll",
    "dice",
    "story",
)


def event_id(payload: Mapping[str, Any], received_at: datetime) -> str:
    """`telegram:<update_id>`."""
    update_id = payload.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise ParseError(CHANNEL, "update_id", "missing or not an integer")
    return f"telegram:{update_id}"


def parse(envelope: Envelope, *, region: str = "RU") -> Message | Ignored:
    """Normalize one Telegram Update.

    Only new messages in private chats from people are Messages; edits, group traffic, other bots and
    update kinds without a message (callback_query, my_chat_member...) are Ignored with a reason.
    Raises ParseError when a field we need is missing or of the wrong type.
    """
    update = check_channel(envelope, CHANNEL)
    update_id = update.req_int("update_id")

    if not update.present("message"):
        kind = next((k for k in update.raw if k != "update_id"), "empty")
        reason = "edited" if kind == "edited_message" else f"no message: {kind}"
        return _ignored(envelope, reason)
    message = update.req_obj("message")

    chat = message.req_obj("chat")
    chat_id = chat.req_int("id")
    chat_type = chat.req_str("type")
    if chat_type != "private":
        # Groups mix many people and are not a conversation with the business.
        return _ignored(envelope, f"{chat_type} chat")

    sender = message.req_obj("from")
    user_id = sender.req_int("id")
    if sender.opt_bool("is_bot"):
        return _ignored(envelope, "bot")
    sent_at = message.unix_time("date")

    text = message.opt_str("text") or message.opt_str("caption")
    kind = next((k for k in _CONTENT_KINDS if message.present(k)), "text" if text else "")
    if not kind:
        # Service messages (pinned message, payments, web app data) carry nothing to show or resolve.
        return _ignored(envelope, "service message")

    meta: dict[str, str] = {"kind": kind}
    message_id = message.opt_int("message_id")
    if message_id is not None:
        meta["message_id"] = str(message_id)

    identifiers: list[Identifier] = []
    username = sender.opt_str("username").strip().lstrip("@")
    if username:
        identifiers.append(Identifier(kind=IdKind.TELEGRAM_USERNAME, value=username.lower()))
    contact = message.opt_obj("contact")
    if contact is not None:
        identifiers += _contact(contact, user_id, region, meta)
    identifiers += mentioned(text, region)

    return Message(
        event_id=envelope.id,
        channel=CHANNEL,
        account=ACCOUNT,
        user_id=str(user_id),
        chat_id=str(chat_id),
        provider_message_id=str(update_id),
        sent_at=sent_at,
        received_at=envelope.received_at,
        text=text,
        name=full_name(sender.opt_str("first_name"), sender.opt_str("last_name")),
        handle=username,
        identifiers=unique(identifiers),
        meta=meta,
    )


def _contact(contact: Fields, sender_id: int, region: str, meta: dict[str, str]) -> list[Identifier]:
    """The sender's own phone when they pressed "share my contact"; anyone else's goes to meta only.

    Telegram sets `contact.user_id` to the sender's id only for their own card, so only then does the
    channel vouch that the number belongs to the sender.
    """
    raw = contact.req_str("phone_number")
    phone = normalize_phone(raw, region)
    if phone is None:
        meta["invalid_phone"] = raw
        return []
    if contact.opt_int("user_id") == sender_id:
        return [Identifier(kind=IdKind.PHONE, value=phone, provenance=Provenance.CHANNEL)]
    meta["contact_phone"] = phone
    name = full_name(contact.opt_str("first_name"), contact.opt_str("last_name"))
    if name:
        meta["contact_name"] = name
    return []


def _ignored(envelope: Envelope, reason: str) -> Ignored:
    return Ignored(event_id=envelope.id, channel=CHANNEL, reason=reason)
