from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from connector_samples import PAYLOADS, load_payload

from connectors.envelope import derive_event_id, envelope_from_json, envelope_to_json
from connectors.parsers import PARSERS, parse_envelope
from core.errors import ParseError, ReplayLineError
from core.values import Channel, IdKind, Ignored, Message

# The four sample lines of shared/contracts/replay-and-export.md, ids completed to full length.
SAMPLE_LINES = (PAYLOADS / "contract_samples.jsonl").read_text(encoding="utf-8").splitlines()


def _line(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "channel": "webform",
        "received_at": "2026-10-01T10:03:40Z",
        "payload": {"name": "Ivan", "phone": "89123456789"},
    }
    return {k: v for k, v in (base | fields).items() if v is not ...}


def test_the_contract_sample_lines_all_parse() -> None:
    envelopes = [envelope_from_json(json.loads(raw), line=n) for n, raw in enumerate(SAMPLE_LINES, 1)]
    results = [parse_envelope(env) for env in envelopes]
    assert all(isinstance(r, Message) for r in results)
    messages = [r for r in results if isinstance(r, Message)]
    assert [m.event_id for m in messages] == ["e1", "e2", "e3", "e4"]
    assert [m.channel for m in messages] == [Channel.TELEGRAM, Channel.WHATSAPP, Channel.AVITO, Channel.WEBFORM]
    assert [m.name for m in messages] == ["Саша Петров", "Alexander", "Александр П.", "Петров Александр"]
    whatsapp_phone = next(i.value for i in messages[1].identifiers if i.kind is IdKind.PHONE)
    webform_phone = next(i.value for i in messages[3].identifiers if i.kind is IdKind.PHONE)
    assert webform_phone == whatsapp_phone == "+79123456789"
    assert envelopes[0].received_at == datetime(2026, 10, 1, 9, 58, tzinfo=UTC)


def test_round_trip() -> None:
    for n, raw in enumerate(SAMPLE_LINES, 1):
        obj = json.loads(raw)
        env = envelope_from_json(obj, line=n)
        assert envelope_to_json(env) == obj
        assert envelope_from_json(json.loads(json.dumps(envelope_to_json(env))), line=n) == env


def test_received_at_is_converted_to_utc() -> None:
    env = envelope_from_json(_line(id="x", received_at="2026-10-01T13:03:40.250+03:00"), line=1)
    assert env.received_at == datetime(2026, 10, 1, 10, 3, 40, 250000, tzinfo=UTC)
    assert env.received_at.tzinfo is UTC
    assert envelope_to_json(env)["received_at"] == "2026-10-01T10:03:40.250000Z"


def test_to_json_converts_any_zone_to_utc() -> None:
    moment = datetime(2026, 10, 1, 13, 0, tzinfo=timezone(timedelta(hours=3)))
    env = envelope_from_json(_line(id="x"), line=1)
    line = envelope_to_json(type(env)(id="x", channel=env.channel, received_at=moment, payload={}))
    assert line["received_at"] == "2026-10-01T10:00:00Z"
    assert "lookups" not in line


@pytest.mark.parametrize(
    ("channel", "name", "expected"),
    [
        ("telegram", "telegram_text", "telegram:700474453"),
        ("whatsapp", "twilio_inbound", "whatsapp:SM0f3c2b1a09e8d7c6b5a4f3e2d1c0b9a8"),
        ("whatsapp", "twilio_status_callback", "whatsapp:SMa1b2c3d4e5f60718293a4b5c6d7e8f90:delivered"),
        ("avito", "avito_message", "avito:b1e2c3d4e5f60718293a4b5c6d7e8f90"),
    ],
)
def test_id_derived_from_provider_message_id(channel: str, name: str, expected: str) -> None:
    env = envelope_from_json(_line(channel=channel, payload=load_payload(name)), line=1)
    assert env.id == expected


def test_webform_id_is_a_deterministic_hash_of_payload_and_time() -> None:
    first = envelope_from_json(_line(), line=1).id
    assert first.startswith("webform:")
    assert len(first) == len("webform:") + 32
    assert envelope_from_json(_line(), line=2).id == first
    # The same instant written in another zone is the same submission.
    assert envelope_from_json(_line(received_at="2026-10-01T13:03:40+03:00"), line=3).id == first
    # Key order in the file does not matter (canonical JSON).
    reordered = _line(payload={"phone": "89123456789", "name": "Ivan"})
    assert envelope_from_json(reordered, line=4).id == first
    assert envelope_from_json(_line(received_at="2026-10-01T10:03:41Z"), line=5).id != first
    assert envelope_from_json(_line(payload={"name": "Ivan"}), line=6).id != first


def test_avito_probe_gets_an_id_and_is_ignored() -> None:
    env = envelope_from_json(_line(channel="avito", payload={}), line=1)
    assert env.id.startswith("avito:probe:")
    assert parse_envelope(env) == Ignored(event_id=env.id, channel=Channel.AVITO, reason="probe")


def test_lookups_are_kept() -> None:
    chat = load_payload("avito_chat_info")
    env = envelope_from_json(
        _line(channel="avito", payload=load_payload("avito_message"), lookups={"chat": chat}), line=1
    )
    assert env.lookups == {"chat": chat}
    assert envelope_from_json(_line(lookups=None), line=1).lookups == {}


def test_unknown_fields_are_ignored() -> None:
    assert envelope_from_json(_line(id="x", note="imported from amoCRM"), line=1).id == "x"


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([1, 2], "not a JSON object"),
        ("text", "not a JSON object"),
        (_line(channel="viber"), "unknown channel"),
        (_line(channel=None), "unknown channel"),
        (_line(channel="Telegram"), "unknown channel"),
        (_line(received_at=...), "received_at"),
        (_line(received_at="2026-10-01"), "received_at"),
        (_line(received_at="2026-10-01T10:03:40"), "received_at"),
        (_line(received_at="2026-13-01T10:03:40Z"), "received_at"),
        (_line(received_at="yesterday"), "received_at"),
        (_line(received_at=1790848680), "received_at"),
        (_line(payload=...), "payload"),
        (_line(payload="Body=hi"), "payload"),
        (_line(payload=[]), "payload"),
        (_line(lookups=[]), "lookups"),
        (_line(id=""), "id"),
        (_line(id=5), "id"),
        (_line(channel="telegram", payload={"message": {}}), "update_id"),
        (_line(channel="telegram", payload={"update_id": "5"}), "update_id"),
        (_line(channel="whatsapp", payload={"Body": "hi"}), "MessageSid"),
        (_line(channel="avito", payload={"payload": {"value": {}}}), "payload.value.id"),
    ],
)
def test_bad_lines(obj: object, reason: str) -> None:
    with pytest.raises(ReplayLineError) as err:
        envelope_from_json(obj, line=42)
    assert err.value.line == 42
    assert reason in err.value.reason
    assert str(err.value).startswith("line 42: ")


def test_lowercase_rfc3339_separators_are_accepted() -> None:
    env = envelope_from_json(_line(received_at="2026-10-01t10:03:40z"), line=1)
    assert env.received_at == datetime(2026, 10, 1, 10, 3, 40, tzinfo=UTC)


def test_derive_event_id_for_the_live_path_raises_parse_error() -> None:
    with pytest.raises(ParseError) as err:
        derive_event_id(Channel.TELEGRAM, {}, datetime(2026, 1, 1, tzinfo=UTC))
    assert (err.value.channel, err.value.field) == ("telegram", "update_id")


def test_registry_covers_every_channel() -> None:
    assert set(PARSERS) == set(Channel)
    with pytest.raises(TypeError):
        PARSERS[Channel.TELEGRAM] = PARSERS[Channel.AVITO]  # type: ignore[index]


def test_parse_envelope_raises_parse_error_for_unusable_payload() -> None:
    env = envelope_from_json(_line(channel="whatsapp", payload={"MessageSid": "SM1", "From": "x"}), line=1)
    with pytest.raises(ParseError):
        parse_envelope(env)
