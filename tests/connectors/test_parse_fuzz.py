"""Any JSON a provider (or a broken replay file) may send gives a Message, an Ignored or a ParseError."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from connector_samples import PAYLOADS, load_payload, make_envelope
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.envelope import envelope_from_json
from connectors.parsers import parse_envelope
from core.errors import ParseError, ReplayLineError
from core.values import Channel, Ignored, Message

SAMPLES = {
    Channel.TELEGRAM: [p.stem for p in PAYLOADS.glob("telegram_*.json")],
    Channel.WHATSAPP: [p.stem for p in PAYLOADS.glob("twilio_*.json")],
    Channel.AVITO: ["avito_message", "avito_echo", "avito_system"],
    Channel.WEBFORM: [p.stem for p in PAYLOADS.glob("webform_*.json")],
    Channel.MAX: [p.stem for p in PAYLOADS.glob("max_*.json")],
}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        ["", "0", "7", "+79123456789", "whatsapp:+79123456789", "private", "system", "message", "text", "a@b.ru"]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutate(value: Any, data: st.DataObject) -> Any:
    """The sample with some fields dropped, retyped or replaced: close enough to reach deep code."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            action = data.draw(st.sampled_from(["keep", "keep", "recurse", "recurse", "drop", "replace"]))
            if action == "keep":
                out[key] = item
            elif action == "recurse":
                out[key] = _mutate(item, data)
            elif action == "replace":
                out[key] = data.draw(json_values)
        return out
    if isinstance(value, list):
        return [_mutate(item, data) for item in value]
    if data.draw(st.booleans()):
        return data.draw(json_values)
    return value


def _check(result: Message | Ignored, channel: Channel) -> None:
    assert result.channel is channel
    if isinstance(result, Message):
        for text in (
            result.account,
            result.user_id,
            result.chat_id,
            result.provider_message_id,
            result.text,
            result.name,
            result.handle,
        ):
            assert isinstance(text, str)
        assert result.user_id and result.chat_id and result.provider_message_id
        assert result.sent_at.tzinfo is not None
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.meta.items())


def _parse_or_error(channel: Channel, payload: Any, lookups: Any = None) -> None:
    env = make_envelope(channel, payload, lookups=lookups)
    try:
        result = parse_envelope(env)
    except ParseError as e:
        assert e.channel == channel
        return
    _check(result, channel)


@pytest.mark.parametrize("channel", list(Channel))
@FUZZ
@given(payload=st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_arbitrary_objects(channel: Channel, payload: dict[str, Any]) -> None:
    _parse_or_error(channel, payload)


@pytest.mark.parametrize("channel", list(Channel))
@FUZZ
@given(data=st.data())
def test_mutated_samples(channel: Channel, data: st.DataObject) -> None:
    sample = load_payload(data.draw(st.sampled_from(SAMPLES[channel])))
    lookups = None
    if channel is Channel.AVITO:
        lookups = _mutate({"chat": load_payload("avito_chat_info")}, data)
    _parse_or_error(channel, _mutate(sample, data), lookups)


@FUZZ
@given(data=st.data())
def test_mutated_replay_lines(data: st.DataObject) -> None:
    lines = (PAYLOADS / "contract_samples.jsonl").read_text(encoding="utf-8").splitlines()
    obj = _mutate(json.loads(data.draw(st.sampled_from(lines))), data)
    try:
        env = envelope_from_json(obj, line=3)
    except ReplayLineError as e:
        assert e.line == 3
        return
    assert env.received_at.tzinfo is not None
    assert env.id
    with contextlib.suppress(ParseError):
        _check(parse_envelope(env), env.channel)


@FUZZ
@given(obj=json_values)
def test_arbitrary_replay_lines(obj: Any) -> None:
    with contextlib.suppress(ReplayLineError):
        envelope_from_json(obj, line=1)
