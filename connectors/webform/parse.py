"""Our web form's submission → Message | Ignored (pure, shared by the endpoint and replay)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors._payload import check_channel, content_hash, mentioned, unique
from core.phones import normalize_email, normalize_phone
from core.values import Channel, Envelope, Identifier, IdKind, Ignored, Message, Provenance

CHANNEL = Channel.WEBFORM

# Hidden from people by the site's CSS; only bots fill it in.
HONEYPOT = "website"

_PASSED_TO_META = ("form_id", "page_url", "visitor_id")


def event_id(payload: Mapping[str, Any], received_at: datetime) -> str:
    """`webform:<content hash>`: a submission has no id of its own."""
    return f"webform:{content_hash(payload, received_at)}"


def parse(envelope: Envelope, *, region: str = "RU") -> Message | Ignored:
    """Normalize one web-form submission (a JSON object of strings).

    The phone and e-mail are TYPED identifiers; one that does not validate is dropped from the
    identifiers and kept in meta (`invalid_phone`, `invalid_email`) so the message is still stored
    and the inbox can show what was typed. A filled honeypot is Ignored. Raises ParseError when a
    field is not a string or when none of name, phone, email and message is given.
    """
    form = check_channel(envelope, CHANNEL)
    if form.raw.get(HONEYPOT) not in (None, ""):
        return Ignored(event_id=envelope.id, channel=CHANNEL, reason="honeypot")

    name = " ".join(form.opt_str("name").split())
    raw_phone = form.opt_str("phone").strip()
    raw_email = form.opt_str("email").strip()
    text = form.opt_str("message").strip()
    if not (name or raw_phone or raw_email or text):
        raise form.error("message", "none of name, phone, email, message given")

    meta: dict[str, str] = {}
    for key in _PASSED_TO_META:
        value = form.opt_str(key).strip()
        if value:
            meta[key] = value
    for key in sorted(form.raw):
        if key.startswith("utm_"):
            value = form.opt_str(key).strip()
            if value:
                meta[key] = value

    identifiers: list[Identifier] = []
    phone = normalize_phone(raw_phone, region) if raw_phone else None
    if phone is not None:
        identifiers.append(Identifier(kind=IdKind.PHONE, value=phone, provenance=Provenance.TYPED))
    elif raw_phone:
        meta["invalid_phone"] = raw_phone
    email = normalize_email(raw_email) if raw_email else None
    if email is not None:
        identifiers.append(Identifier(kind=IdKind.EMAIL, value=email, provenance=Provenance.TYPED))
    elif raw_email:
        meta["invalid_email"] = raw_email
    identifiers += mentioned(text, region)

    visitor_id = meta.get("visitor_id", "")
    # A submission has no id of its own; without the site's visitor cookie each one is its own profile.
    user_id = f"visitor:{visitor_id}" if visitor_id else f"sub:{envelope.id}"
    # Replies to a form go out by e-mail or phone; the address is kept as typed (the match key is
    # lower-cased, the mailbox may not be).
    chat_id = (raw_email if email else "") or phone or user_id

    return Message(
        event_id=envelope.id,
        channel=CHANNEL,
        account=meta.get("form_id", "") or "default",
        user_id=user_id,
        chat_id=chat_id,
        provider_message_id=envelope.id,
        sent_at=envelope.received_at,
        received_at=envelope.received_at,
        text=text,
        name=name,
        identifiers=unique(identifiers),
        meta=meta,
    )
