from __future__ import annotations

import pytest
from connector_samples import RECEIVED_AT, load_payload, make_envelope

from connectors.webform.parse import parse
from core.errors import ParseError
from core.values import Channel, Identifier, IdKind, Ignored, Message, Provenance


def _message(form: dict[str, object]) -> Message:
    result = parse(make_envelope(Channel.WEBFORM, form, event_id="webform:abc"))
    assert isinstance(result, Message)
    return result


def test_full_submission() -> None:
    msg = _message(load_payload("webform_full"))
    assert msg.channel is Channel.WEBFORM
    assert msg.account == "contact"
    assert msg.user_id == "visitor:5d04a09d5839b41a0065fe727fe669bd"
    assert msg.chat_id == "A.Petrov@Mail.ru"  # sent to as typed; the match key is lower-cased
    assert msg.provider_message_id == "webform:abc"
    assert msg.sent_at == msg.received_at == RECEIVED_AT
    assert msg.text == "Замена масла Kia Rio, сколько стоит?"
    assert msg.name == "Петров Александр"
    assert msg.identifiers == (
        Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.TYPED),
        Identifier(kind=IdKind.EMAIL, value="a.petrov@mail.ru", provenance=Provenance.TYPED),
    )
    assert msg.meta == {
        "form_id": "contact",
        "page_url": "https://example.com/contacts",
        "visitor_id": "5d04a09d5839b41a0065fe727fe669bd",
        "utm_campaign": "oil_autumn",
        "utm_medium": "cpc",
        "utm_source": "yandex",
    }


def test_partial_submission_without_visitor_id() -> None:
    msg = _message(load_payload("webform_partial"))
    assert msg.account == "callback"
    assert msg.user_id == "sub:webform:abc"
    assert msg.chat_id == "+79123456789"
    assert msg.name == msg.text == ""
    assert msg.identifiers == (Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.TYPED),)


def test_invalid_phone_and_email_are_kept_in_meta_not_identifiers() -> None:
    msg = _message(load_payload("webform_invalid_phone"))
    assert msg.identifiers == ()
    assert msg.meta["invalid_phone"] == "12345"
    assert msg.meta["invalid_email"] == "ivan@"
    assert msg.chat_id == msg.user_id
    assert msg.text == "перезвоните"


def test_phone_in_message_is_mentioned() -> None:
    form = load_payload("webform_partial") | {"phone": "", "message": "мой номер +7 912 345 67 89"}
    msg = _message(form)
    assert msg.identifiers == (Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.MENTIONED),)


def test_form_without_id_uses_default_account() -> None:
    assert _message({"name": "Ivan"}).account == "default"


def test_honeypot_is_ignored() -> None:
    result = parse(make_envelope(Channel.WEBFORM, load_payload("webform_honeypot")))
    assert result == Ignored(event_id="e1", channel=Channel.WEBFORM, reason="honeypot")


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({}, "message"),
        ({"form_id": "contact", "name": " ", "phone": "", "page_url": "https://example.com"}, "message"),
        ({"name": "Ivan", "phone": 89123456789}, "phone"),
        ({"name": "Ivan", "utm_source": ["a"]}, "utm_source"),
        ({"name": "Ivan", "visitor_id": 5}, "visitor_id"),
    ],
)
def test_parse_errors(form: dict[str, object], field: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(make_envelope(Channel.WEBFORM, form))
    assert (err.value.channel, err.value.field) == ("webform", field)
