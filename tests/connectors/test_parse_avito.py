from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from connector_samples import RECEIVED_AT, load_payload, make_envelope

from connectors.avito.parse import parse
from core.errors import ParseError
from core.values import Channel, Identifier, IdKind, Ignored, Message, Provenance


def _lookups() -> dict[str, Any]:
    return {"chat": load_payload("avito_chat_info")}


def test_message_with_chat_info() -> None:
    msg = parse(make_envelope(Channel.AVITO, load_payload("avito_message"), lookups=_lookups()))
    assert isinstance(msg, Message)
    assert msg.channel is Channel.AVITO
    assert msg.account == "94235311"
    assert msg.user_id == "28834512"
    assert msg.chat_id == "u2i-123456~789"
    assert msg.provider_message_id == "b1e2c3d4e5f60718293a4b5c6d7e8f90"
    assert msg.sent_at == datetime.fromtimestamp(1790848862, UTC)
    assert msg.received_at == RECEIVED_AT
    assert msg.text == "Сколько стоит замена масла на Kia Rio?? Телефон 89123456789"
    assert msg.name == "Александр П."
    assert msg.identifiers == (Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.MENTIONED),)
    assert msg.meta == {
        "kind": "text",
        "chat_type": "u2i",
        "item_id": "3000123456",
        "item_title": "Замена масла в двигателе",
        "item_url": "https://www.avito.ru/izhevsk/predlozheniya_uslug/zamena_masla_3000123456",
    }


def test_message_without_lookups_has_no_name() -> None:
    msg = parse(make_envelope(Channel.AVITO, load_payload("avito_message")))
    assert isinstance(msg, Message)
    assert msg.name == ""
    assert msg.meta == {"kind": "text", "chat_type": "u2i", "item_id": "3000123456"}


def test_author_missing_from_chat_info_has_no_name() -> None:
    lookups = _lookups()
    lookups["chat"]["users"] = lookups["chat"]["users"][:1]
    msg = parse(make_envelope(Channel.AVITO, load_payload("avito_message"), lookups=lookups))
    assert isinstance(msg, Message)
    assert msg.name == ""


def test_image_message_has_no_text() -> None:
    body = load_payload("avito_message")
    body["payload"]["value"] |= {"type": "image", "content": {"image": {"sizes": {"140x105": "https://x"}}}}
    msg = parse(make_envelope(Channel.AVITO, body))
    assert isinstance(msg, Message)
    assert (msg.text, msg.meta["kind"]) == ("", "image")


@pytest.mark.parametrize(
    ("name", "reason"),
    [("avito_echo", "own message"), ("avito_system", "system message"), ("avito_probe", "probe")],
)
def test_ignored(name: str, reason: str) -> None:
    result = parse(make_envelope(Channel.AVITO, load_payload(name), lookups=_lookups()))
    assert result == Ignored(event_id="e1", channel=Channel.AVITO, reason=reason)


def test_chat_info_of_another_chat_is_refused() -> None:
    lookups = _lookups()
    lookups["chat"]["id"] = "u2i-999~1"
    with pytest.raises(ParseError) as err:
        parse(make_envelope(Channel.AVITO, load_payload("avito_message"), lookups=lookups))
    assert err.value.field == "lookups.chat.id"


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("id", None, "payload.value.id"),
        ("id", 17, "payload.value.id"),
        ("author_id", "28834512", "payload.value.author_id"),
        ("user_id", None, "payload.value.user_id"),
        ("chat_id", None, "payload.value.chat_id"),
        ("created", "yesterday", "payload.value.created"),
        ("content", "text", "payload.value.content"),
    ],
)
def test_parse_errors(key: str, value: object, field: str) -> None:
    body = load_payload("avito_message")
    body["payload"]["value"][key] = value
    with pytest.raises(ParseError) as err:
        parse(make_envelope(Channel.AVITO, body))
    assert (err.value.channel, err.value.field) == ("avito", field)


def test_missing_value_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as err:
        parse(make_envelope(Channel.AVITO, {"id": "x", "payload": {"type": "message"}}))
    assert err.value.field == "payload.value"
