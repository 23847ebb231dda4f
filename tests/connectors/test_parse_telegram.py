from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from connector_samples import RECEIVED_AT, load_payload, make_envelope

from connectors.telegram.parse import parse
from core.errors import ParseError
from core.values import Channel, Identifier, IdKind, Ignored, Message, Provenance


def _message(name: str) -> Message:
    result = parse(make_envelope(Channel.TELEGRAM, load_payload(name)))
    assert isinstance(result, Message)
    return result


def test_text_message() -> None:
    msg = _message("telegram_text")
    assert msg.event_id == "e1"
    assert msg.channel is Channel.TELEGRAM
    assert msg.account == "bot"
    assert msg.user_id == "5651074222"
    assert msg.chat_id == "5651074222"
    assert msg.provider_message_id == "700474453"
    assert msg.sent_at == datetime.fromtimestamp(1790848680, UTC)
    assert msg.received_at == RECEIVED_AT
    assert msg.text.startswith("Здравствуйте! Сколько стоит")
    assert msg.name == "Саша Петров"
    assert msg.handle == "Sasha_P"
    assert msg.meta == {"kind": "text", "message_id": "23850"}
    assert msg.identifiers == (
        Identifier(kind=IdKind.TELEGRAM_USERNAME, value="sasha_p", provenance=Provenance.CHANNEL),
        Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.MENTIONED),
        Identifier(kind=IdKind.EMAIL, value="a.petrov@mail.ru", provenance=Provenance.MENTIONED),
    )


def test_own_contact_is_a_channel_phone() -> None:
    msg = _message("telegram_contact")
    assert msg.text == ""
    assert msg.meta["kind"] == "contact"
    own_phone = Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.CHANNEL)
    assert own_phone in msg.identifiers
    assert "contact_phone" not in msg.meta


def test_someone_elses_contact_is_not_the_senders_phone() -> None:
    msg = _message("telegram_contact_other")
    assert [i.kind for i in msg.identifiers] == [IdKind.TELEGRAM_USERNAME]
    assert msg.meta["contact_phone"] == "+79031234567"
    assert msg.meta["contact_name"] == "Мама"


def test_contact_without_user_id_is_not_the_senders() -> None:
    update = load_payload("telegram_contact")
    del update["message"]["contact"]["user_id"]
    msg = parse(make_envelope(Channel.TELEGRAM, update))
    assert isinstance(msg, Message)
    assert all(i.kind is not IdKind.PHONE for i in msg.identifiers)
    assert msg.meta["contact_phone"] == "+79123456789"


@pytest.mark.parametrize("name", ["telegram_sticker", "telegram_photo"])
def test_media_without_text(name: str) -> None:
    msg = _message(name)
    assert msg.text == ""
    assert msg.meta["kind"] == name.removeprefix("telegram_")


def test_photo_without_last_name_or_username() -> None:
    msg = _message("telegram_photo")
    assert msg.name == "Ivan"
    assert msg.handle == ""
    assert msg.identifiers == ()


def test_caption_is_the_text() -> None:
    update = load_payload("telegram_photo")
    update["message"]["caption"] = "Вот фото, звоните 89123456789"
    msg = parse(make_envelope(Channel.TELEGRAM, update))
    assert isinstance(msg, Message)
    assert msg.text == "Вот фото, звоните 89123456789"
    assert msg.meta["kind"] == "photo"
    assert msg.identifiers == (Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.MENTIONED),)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("telegram_edited", "edited"),
        ("telegram_group", "supergroup chat"),
        ("telegram_callback_query", "no message: callback_query"),
        ("telegram_bot_sender", "bot"),
    ],
)
def test_ignored(name: str, reason: str) -> None:
    assert parse(make_envelope(Channel.TELEGRAM, load_payload(name))) == Ignored(
        event_id="e1", channel=Channel.TELEGRAM, reason=reason
    )


def test_my_chat_member_is_ignored() -> None:
    update = {"update_id": 1, "my_chat_member": {"chat": {"id": 1, "type": "private"}}}
    result = parse(make_envelope(Channel.TELEGRAM, update))
    assert isinstance(result, Ignored)
    assert result.reason == "no message: my_chat_member"


def test_service_message_is_ignored() -> None:
    update = load_payload("telegram_text")
    del update["message"]["text"]
    update["message"]["pinned_message"] = {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}
    result = parse(make_envelope(Channel.TELEGRAM, update))
    assert isinstance(result, Ignored)
    assert result.reason == "service message"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda u: u["message"]["from"].pop("id"), "message.from.id"),
        (lambda u: u["message"].pop("from"), "message.from"),
        (lambda u: u["message"]["from"].update(id="5651074222"), "message.from.id"),
        (lambda u: u.pop("update_id"), "update_id"),
        (lambda u: u["message"].update(date=None), "message.date"),
        (lambda u: u["message"].update(date=10**20), "message.date"),
        (lambda u: u["message"].update(text=["hi"]), "message.text"),
        (lambda u: u["message"]["chat"].update(type=None), "message.chat.type"),
        (lambda u: u.update(message="hi"), "message"),
    ],
)
def test_parse_errors(mutate: Callable[[dict[str, Any]], object], field: str) -> None:
    update = load_payload("telegram_text")
    mutate(update)
    with pytest.raises(ParseError) as err:
        parse(make_envelope(Channel.TELEGRAM, update))
    assert err.value.channel == "telegram"
    assert err.value.field == field


def test_wrong_channel_envelope() -> None:
    with pytest.raises(ParseError):
        parse(make_envelope(Channel.AVITO, load_payload("telegram_text")))
