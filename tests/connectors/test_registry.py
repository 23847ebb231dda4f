"""The channel registry: every channel once, its parser and event ids pure, its routes distinct."""

from __future__ import annotations

from connector_samples import RECEIVED_AT, load_payload, make_envelope

from connectors.base import BaseConnector
from connectors.envelope import derive_event_id
from connectors.parsers import PARSERS
from connectors.registry import CHANNELS, SPECS
from core.config import Settings
from core.values import Channel


def test_every_channel_is_registered_once() -> None:
    assert [spec.channel for spec in CHANNELS] == list(SPECS)
    assert set(SPECS) == set(Channel)
    assert set(PARSERS) == set(Channel)


def test_routes_are_distinct() -> None:
    routes = [(route.method, route.path) for spec in CHANNELS for route in spec.webhooks]
    assert len(routes) == len(set(routes))
    assert ("POST", "/webhooks/max") in routes


def test_without_credentials_only_the_web_form_is_built() -> None:
    built = {spec.channel: spec.build(Settings()) for spec in CHANNELS}
    assert {channel for channel, connector in built.items() if connector is not None} == {Channel.WEBFORM}
    assert all(spec.missing for spec in CHANNELS if spec.channel is not Channel.WEBFORM)


def test_event_ids_and_parsers_need_no_connector() -> None:
    samples = {
        Channel.TELEGRAM: "telegram_text",
        Channel.WHATSAPP: "twilio_inbound",
        Channel.AVITO: "avito_message",
        Channel.WEBFORM: "webform_full",
        Channel.MAX: "max_text",
    }
    for channel, name in samples.items():
        payload = load_payload(name)
        event_id = derive_event_id(channel, payload, RECEIVED_AT)
        assert event_id.startswith(f"{channel}:")
        parsed = SPECS[channel].parse(make_envelope(channel, payload, event_id=event_id))
        assert parsed.event_id == event_id and parsed.channel is channel


def test_connectors_no_longer_parse() -> None:
    assert not hasattr(BaseConnector, "parse")
