"""MAX `Update` → Message | Ignored (pure, shared by the webhook, long polling and replay).

A `message_created` update in a dialog (a private chat with the bot) is a Message; every other update
type (`bot_started`, `message_callback`, `message_edited`, `user_added`, ...) and group traffic is
Ignored with a reason. A shared contact arrives as a `contact` attachment whose `payload.vcf_info` is a
vCard with a TEL line and whose `payload.max_info` is the MAX user the card belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors._payload import Fields, check_channel, content_hash, full_name, mentioned, nonblank, unique
from core.errors import ParseError
from core.phones import normalize_phone
from core.values import Channel, Envelope, Identifier, IdKind, Ignored, Message, Provenance

CHANNEL = Channel.MAX

# An update does not always name the bot it was sent to; one Stitch install runs one MAX bot.
ACCOUNT = "bot"
MESSAGE_CREATED = "message_created"
DIALOG = "dialog"


def event_id(payload: Mapping[str, Any], received_at: datetime) -> str:
    """`max:<message.body.mid>`; another update type gets `max:<update_type>:<content hash>`.

    An edit or a button press carries the mid of the message it is about: the mid alone would collide
    with the original.
    """
    update_type = nonblank(payload.get("update_type"))
    if update_type is None:
        raise ParseError(CHANNEL, "update_type", "missing")
    if update_type != MESSAGE_CREATED:
        return f"max:{update_type}:{content_hash(payload, received_at)}"
    message = payload.get("message")
    body = message.get("body") if isinstance(message, Mapping) else None
    mid = nonblank(body.get("mid")) if isinstance(body, Mapping) else None
    if mid is None:
        raise ParseError(CHANNEL, "message.body.mid", "missing")
    return f"max:{mid}"


def parse(envelope: Envelope, *, region: str = "RU") -> Message | Ignored:
    """Normalize one MAX Update; raises ParseError when a field we need is missing or mistyped."""
    update = check_channel(envelope, CHANNEL)
    update_type = update.req_str("update_type")
    if update_type != MESSAGE_CREATED:
        return _ignored(envelope, f"update {update_type}")
    message = update.req_obj("message")
    recipient = message.req_obj("recipient")
    chat_type = recipient.opt_str("chat_type")
    if chat_type and chat_type != DIALOG:
        # Group chats and channels mix many people and are not a conversation with the business.
        return _ignored(envelope, f"{chat_type} chat")

    sender = message.req_obj("sender")
    user_id = sender.req_int("user_id")
    if sender.opt_bool("is_bot"):
        return _ignored(envelope, "bot")
    body = message.req_obj("body")
    mid = body.req_str("mid")
    sent_at = _millis(message, "timestamp")
    text = body.opt_str("text")

    meta: dict[str, str] = {}
    identifiers: list[Identifier] = []
    kinds: list[str] = []
    for index, raw in enumerate(body.opt_list("attachments")):
        attachment = Fields(CHANNEL, raw, body.path(f"attachments[{index}]"))
        kind = attachment.req_str("type")
        kinds.append(kind)
        if kind == "contact":
            identifiers += _contact(attachment.req_obj("payload"), user_id, region, meta)
    kind = "text" if text else next((k for k in kinds if k != "inline_keyboard"), "")
    if not kind:
        return _ignored(envelope, "empty message")
    meta["kind"] = "contact" if "contact" in kinds else kind

    identifiers += mentioned(text, region)
    username = sender.opt_str("username").strip().lstrip("@")
    name = full_name(sender.opt_str("first_name"), sender.opt_str("last_name")) or full_name(sender.opt_str("name"))
    chat_id = recipient.opt_int("chat_id")
    return Message(
        event_id=envelope.id,
        channel=CHANNEL,
        account=ACCOUNT,
        user_id=str(user_id),
        chat_id=str(chat_id) if chat_id is not None else str(user_id),
        provider_message_id=mid,
        sent_at=sent_at,
        received_at=envelope.received_at,
        text=text,
        name=name,
        handle=username,
        identifiers=unique(identifiers),
        meta=meta,
    )


def vcard_phone(vcard: str) -> str | None:
    """The first TEL value of a vCard (3.0 `TEL;TYPE=cell:+7…` or 4.0 `TEL;VALUE=uri:tel:+7…`)."""
    # Folded lines continue with a space or a tab (RFC 6350 §3.2).
    unfolded = vcard.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "")
    for line in unfolded.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        # "item1.TEL;TYPE=cell": a group prefix and parameters around the property name.
        prop = name.split(";", 1)[0].rsplit(".", 1)[-1].strip().upper()
        if prop == "TEL" and value.strip():
            value = value.strip()
            return value[4:] if value.lower().startswith("tel:") else value
    return None


def _contact(payload: Fields, sender_id: int, region: str, meta: dict[str, str]) -> list[Identifier]:
    """The sender's own phone when they pressed the contact button; anyone else's goes to meta only.

    MAX names the card's owner in `max_info`; only when that is the sender does the channel vouch
    that the number is theirs (a forwarded card of a friend is not).
    """
    raw = vcard_phone(payload.opt_str("vcf_info"))
    if raw is None:
        return []
    phone = normalize_phone(raw, region)
    if phone is None:
        meta["invalid_phone"] = raw
        return []
    owner = payload.opt_obj("max_info")
    if owner is not None and owner.opt_int("user_id") == sender_id:
        return [Identifier(kind=IdKind.PHONE, value=phone, provenance=Provenance.CHANNEL)]
    meta["contact_phone"] = phone
    if owner is not None:
        name = full_name(owner.opt_str("first_name"), owner.opt_str("last_name"))
        if name:
            meta["contact_name"] = name
    return []


def _millis(obj: Fields, key: str) -> datetime:
    """MAX timestamps are unix milliseconds."""
    millis = obj.req_int(key)
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError) as e:
        raise obj.error(key, "timestamp out of range") from e


def _ignored(envelope: Envelope, reason: str) -> Ignored:
    return Ignored(event_id=envelope.id, channel=CHANNEL, reason=reason)
