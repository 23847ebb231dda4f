from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from connector_samples import RECEIVED_AT, load_payload, make_envelope

from connectors.envelope import derive_event_id, envelope_from_json
from connectors.max.parse import parse, vcard_phone
from connectors.parsers import parse_envelope
from core.errors import ParseError, ReplayLineError
from core.values import Channel, Identifier, IdKind, Ignored, Message, Provenance


def _message(name: str) -> Message:
    result = parse(make_envelope(Channel.MAX, load_payload(name)))
    assert isinstance(result, Message)
    return result


def test_text_message() -> None:
    msg = _message("max_text")
    assert msg.channel is Channel.MAX
    assert msg.account == "bot"
    assert msg.user_id == "58150341"
    assert msg.chat_id == "-71550209231"
    assert msg.provider_message_id == "mid.0000000008a53b9b019c44bd612d33e0"
    assert msg.sent_at == datetime.fromtimestamp(1790848680.512, UTC)
    assert msg.received_at == RECEIVED_AT
    assert msg.text.startswith("Здравствуйте! Сколько стоит")
    assert msg.name == "Саша Петров"
    assert msg.handle == "sasha_p"
    assert msg.meta == {"kind": "text"}
    assert msg.identifiers == ()


def test_own_contact_is_a_channel_phone() -> None:
    msg = _message("max_contact")
    assert msg.text == ""
    assert msg.meta["kind"] == "contact"
    assert msg.identifiers == (Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.CHANNEL),)


def test_someone_elses_contact_is_not_the_senders_phone() -> None:
    msg = _message("max_contact_other")
    assert msg.identifiers == ()
    assert msg.meta["contact_phone"] == "+79035550101"
    assert msg.meta["contact_name"] == "Мама"


def test_contact_without_max_info_is_not_the_senders() -> None:
    update = load_payload("max_contact")
    del update["message"]["body"]["attachments"][0]["payload"]["max_info"]
    result = parse(make_envelope(Channel.MAX, update))
    assert isinstance(result, Message)
    assert result.identifiers == () and result.meta["contact_phone"] == "+79123456789"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("max_bot_started", "update bot_started"),
        ("max_group", "chat chat"),
        ("max_callback", "update message_callback"),
    ],
)
def test_other_updates_are_ignored(name: str, reason: str) -> None:
    result = parse(make_envelope(Channel.MAX, load_payload(name)))
    assert isinstance(result, Ignored) and result.reason == reason


def test_a_bot_sender_is_ignored() -> None:
    update = load_payload("max_text")
    update["message"]["sender"]["is_bot"] = True
    result = parse(make_envelope(Channel.MAX, update))
    assert isinstance(result, Ignored) and result.reason == "bot"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("update_type",), "update_type"),
        (("message", "sender"), "message.sender"),
        (("message", "body", "mid"), "message.body.mid"),
        (("message", "timestamp"), "message.timestamp"),
    ],
)
def test_missing_fields_name_their_path(path: tuple[str, ...], field: str) -> None:
    update = load_payload("max_text")
    target = update
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    with pytest.raises(ParseError) as info:
        parse(make_envelope(Channel.MAX, update))
    assert info.value.field == field


@pytest.mark.parametrize(
    ("vcard", "phone"),
    [
        ("BEGIN:VCARD\r\nVERSION:3.0\r\nTEL;TYPE=cell:+79123456789\r\nEND:VCARD", "+79123456789"),
        ("BEGIN:VCARD\nVERSION:4.0\nTEL;VALUE=uri;TYPE=cell:tel:+7-912-345-67-89\nEND:VCARD", "+7-912-345-67-89"),
        ("BEGIN:VCARD\r\nitem1.TEL:8912\r\n 3456789\r\nEND:VCARD", "89123456789"),
        ("BEGIN:VCARD\r\nFN:Nobody\r\nEND:VCARD", None),
        ("", None),
    ],
)
def test_vcard_phone(vcard: str, phone: str | None) -> None:
    assert vcard_phone(vcard) == phone


def test_replay_line_without_id_derives_it_from_the_mid() -> None:
    line = {"channel": "max", "received_at": "2026-10-01T10:00:00Z", "payload": load_payload("max_text")}
    env = envelope_from_json(json.loads(json.dumps(line)), line=1)
    assert env.id == "max:mid.0000000008a53b9b019c44bd612d33e0"
    assert isinstance(parse_envelope(env), Message)


def test_other_update_types_get_a_content_id_never_the_mid() -> None:
    callback = load_payload("max_callback")
    event_id = derive_event_id(Channel.MAX, callback, RECEIVED_AT)
    assert event_id.startswith("max:message_callback:") and "mid." not in event_id
    assert derive_event_id(Channel.MAX, callback, RECEIVED_AT) == event_id


def test_a_line_without_mid_cannot_derive_an_id() -> None:
    payload = load_payload("max_text")
    del payload["message"]["body"]["mid"]
    with pytest.raises(ReplayLineError, match=r"message\.body\.mid"):
        envelope_from_json({"channel": "max", "received_at": "2026-10-01T10:00:00Z", "payload": payload}, line=4)
