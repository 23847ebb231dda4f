"""The values every part of Stitch passes around: frozen, slotted, keyword-only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    AVITO = "avito"
    WEBFORM = "webform"
    MAX = "max"


class IdKind(StrEnum):
    """Kinds of identifier that link profiles exactly."""

    PHONE = "phone"  # E.164
    EMAIL = "email"  # normalized, lower-cased
    TELEGRAM_USERNAME = "tg_username"  # lower-cased, without "@"


class Provenance(StrEnum):
    """How an identifier reached us; decides how much a link through it is trusted."""

    CHANNEL = "channel"  # the channel itself vouches: a WhatsApp number, Telegram's contact button
    TYPED = "typed"  # typed by the customer into a form field
    MENTIONED = "mentioned"  # found inside message text


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier:
    kind: IdKind
    value: str
    provenance: Provenance = Provenance.CHANNEL

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One recorded channel event: the replay-file line and the live webhook alike."""

    id: str
    channel: Channel
    received_at: datetime
    payload: Mapping[str, Any]
    lookups: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A customer's message, normalized from any channel.

    `user_id` is the customer's id on the channel (Telegram user id, WhatsApp E.164 number, Avito
    user id, web-form visitor id or `sub:<event id>`); with `channel` it names one profile.
    `account` is our side: the bot, the business number, our Avito account, the form.
    """

    event_id: str
    channel: Channel
    account: str
    user_id: str
    chat_id: str
    provider_message_id: str
    sent_at: datetime
    received_at: datetime
    text: str = ""
    name: str = ""
    handle: str = ""
    identifiers: tuple[Identifier, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def profile_key(self) -> str:
        return profile_key(self.channel, self.user_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignored:
    """A payload that is valid but carries nothing to resolve (our own echo, a system notice)."""

    event_id: str
    channel: Channel
    reason: str


def profile_key(channel: Channel | str, user_id: str) -> str:
    return f"{channel}:{user_id}"
