"""Twilio's WhatsApp webhook form fields → Message | Ignored (pure, shared by the webhook and replay)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors._payload import Fields, check_channel, mentioned, nonblank, unique
from core.errors import ParseError
from core.phones import normalize_phone
from core.values import Channel, Envelope, Identifier, IdKind, Ignored, Message, Provenance

CHANNEL = Channel.WHATSAPP

# Twilio attaches at most 10 media to one message; a larger NumMedia is not Twilio's.
MAX_MEDIA = 10


def event_id(payload: Mapping[str, Any], received_at: datetime) -> str:
    """`whatsapp:<MessageSid>`; a status callback shares its message's sid, so it adds the status."""
    sid = nonblank(payload.get("MessageSid"))
    if sid is None:
        raise ParseError(CHANNEL, "MessageSid", "missing")
    status = nonblank(payload.get("MessageStatus"))
    if status is not None and payload.get("Body") is None:
        return f"whatsapp:{sid}:{status}"
    return f"whatsapp:{sid}"


def parse(envelope: Envelope, *, region: str = "RU") -> Message | Ignored:
    """Normalize one inbound WhatsApp message posted by Twilio (form fields as a dict of strings).

    A status callback (delivery report of our own reply) is Ignored. `From` must be a valid phone:
    it is the customer's identity on this channel. Twilio sends no timestamp, so `sent_at` is the
    arrival time. Raises ParseError for missing or mistyped fields.
    """
    form = check_channel(envelope, CHANNEL)
    if form.present("MessageStatus") and not form.present("Body"):
        return Ignored(event_id=envelope.id, channel=CHANNEL, reason="status callback")

    sid = form.req_str("MessageSid").strip()
    raw_from = form.req_str("From")
    phone = normalize_phone(raw_from, region)
    if phone is None:
        raise form.error("From", "not a valid phone number")
    raw_to = form.opt_str("To").strip()
    # Our business number, normalized when it parses so the same number always names one account.
    account = normalize_phone(raw_to, region) or raw_to.removeprefix("whatsapp:") or "default"

    text = form.opt_str("Body")
    meta = _media(form)
    identifiers = [Identifier(kind=IdKind.PHONE, value=phone, provenance=Provenance.CHANNEL)]
    identifiers += mentioned(text, region)

    return Message(
        event_id=envelope.id,
        channel=CHANNEL,
        account=account,
        user_id=phone,
        chat_id=phone,
        provider_message_id=sid,
        sent_at=envelope.received_at,
        received_at=envelope.received_at,
        text=text,
        name=" ".join(form.opt_str("ProfileName").split()),
        identifiers=unique(identifiers),
        meta=meta,
    )


def _media(form: Fields) -> dict[str, str]:
    """The message kind and its attachments (URLs stay Twilio's; fetching them needs our credentials)."""
    raw_count = form.opt_str("NumMedia", "0").strip() or "0"
    if not (raw_count.isascii() and raw_count.isdigit()) or int(raw_count) > MAX_MEDIA:
        raise form.error("NumMedia", "expected a count from 0 to 10")
    count = int(raw_count)
    meta: dict[str, str] = {}
    for i in range(count):
        url = form.opt_str(f"MediaUrl{i}")
        if url:
            meta[f"media_url_{i}"] = url
            meta[f"media_type_{i}"] = form.opt_str(f"MediaContentType{i}")
    if count:
        meta["num_media"] = str(count)
    kind = form.opt_str("MessageType").strip()
    if not kind:
        first_type = meta.get("media_type_0", "")
        kind = first_type.partition("/")[0] or ("media" if count else "text")
    meta["kind"] = kind
    wa_id = form.opt_str("WaId").strip()
    if wa_id:
        meta["wa_id"] = wa_id
    return meta
