from __future__ import annotations

import pytest
from connector_samples import RECEIVED_AT, load_payload, make_envelope

from connectors.whatsapp.parse import parse
from core.errors import ParseError
from core.values import Channel, Identifier, IdKind, Ignored, Message, Provenance

SID = "SM0f3c2b1a09e8d7c6b5a4f3e2d1c0b9a8"


def _message(name: str, **changes: str) -> Message:
    form = load_payload(name) | changes
    result = parse(make_envelope(Channel.WHATSAPP, form))
    assert isinstance(result, Message)
    return result


def test_inbound_text() -> None:
    msg = _message("twilio_inbound")
    assert msg.channel is Channel.WHATSAPP
    assert msg.account == "+74951234567"
    assert msg.user_id == msg.chat_id == "+79123456789"
    assert msg.provider_message_id == SID
    assert msg.sent_at == msg.received_at == RECEIVED_AT
    assert msg.text == "здравствуйте! сколько стоит замена масла на kia rio?"
    assert msg.name == "Alexander"
    assert msg.handle == ""
    assert msg.identifiers == (Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.CHANNEL),)
    assert msg.meta == {"kind": "text", "wa_id": "79123456789"}


def test_inbound_without_profile_name_mentions_contacts() -> None:
    msg = _message("twilio_inbound_no_profile_name")
    assert msg.name == ""
    assert msg.user_id == "+79031234567"
    assert msg.identifiers == (
        Identifier(kind=IdKind.PHONE, value="+79031234567", provenance=Provenance.CHANNEL),
        Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.MENTIONED),
        Identifier(kind=IdKind.EMAIL, value="ivan.k@yandex.ru", provenance=Provenance.MENTIONED),
    )


def test_own_number_in_body_stays_a_channel_identifier() -> None:
    msg = _message("twilio_inbound", Body="мой номер 8 912 345-67-89")
    assert msg.identifiers == (Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.CHANNEL),)


def test_media() -> None:
    msg = _message("twilio_media")
    assert msg.text == ""
    assert msg.provider_message_id == "MM1e2d3c4b5a69788796a5b4c3d2e1f0a9"
    assert msg.meta["kind"] == "image"
    assert msg.meta["num_media"] == "1"
    assert msg.meta["media_type_0"] == "image/jpeg"
    assert msg.meta["media_url_0"].startswith("https://api.twilio.com/2010-04-01/Accounts/")


def test_media_kind_without_message_type() -> None:
    form = load_payload("twilio_media")
    del form["MessageType"]
    msg = parse(make_envelope(Channel.WHATSAPP, form))
    assert isinstance(msg, Message)
    assert msg.meta["kind"] == "image"


def test_status_callback_is_ignored() -> None:
    result = parse(make_envelope(Channel.WHATSAPP, load_payload("twilio_status_callback")))
    assert result == Ignored(event_id="e1", channel=Channel.WHATSAPP, reason="status callback")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"From": "whatsapp:+7000"}, "From"),
        ({"From": "whatsapp:hello"}, "From"),
        ({"From": ""}, "From"),
        ({"MessageSid": ""}, "MessageSid"),
        ({"NumMedia": "many"}, "NumMedia"),
        ({"NumMedia": "11"}, "NumMedia"),
        ({"Body": 5}, "Body"),
        ({"ProfileName": ["A"]}, "ProfileName"),
    ],
)
def test_parse_errors(changes: dict[str, object], field: str) -> None:
    form = load_payload("twilio_inbound") | changes
    with pytest.raises(ParseError) as err:
        parse(make_envelope(Channel.WHATSAPP, form))
    assert (err.value.channel, err.value.field) == ("whatsapp", field)


def test_missing_from_is_a_parse_error() -> None:
    form = load_payload("twilio_inbound")
    del form["From"]
    with pytest.raises(ParseError, match="From"):
        parse(make_envelope(Channel.WHATSAPP, form))
