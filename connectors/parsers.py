"""Which pure parser handles which channel: the one dispatch point for replay and live webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from connectors.base import Parser
from connectors.registry import CHANNELS
from core.values import Channel, Envelope, Ignored, Message

__all__ = ["PARSERS", "Parser", "parse_envelope"]

PARSERS: Mapping[Channel, Parser] = MappingProxyType({spec.channel: spec.parse for spec in CHANNELS})


def parse_envelope(env: Envelope, *, region: str = "RU") -> Message | Ignored:
    """Parse `env` with its channel's parser; `region` is the default for numbers written without +.

    Raises ParseError when the payload is not usable; never KeyError or TypeError.
    """
    return PARSERS[env.channel](env, region=region)
