"""Which pure parser handles which channel: the one dispatch point for replay and live webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from connectors.avito.parse import parse as parse_avito
from connectors.max.parse import parse as parse_max
from connectors.telegram.parse import parse as parse_telegram
from connectors.webform.parse import parse as parse_webform
from connectors.whatsapp.parse import parse as parse_whatsapp
from core.values import Channel, Envelope, Ignored, Message


class Parser(Protocol):
    """A channel's pure parser: raw payload → Message | Ignored, or ParseError."""

    def __call__(self, envelope: Envelope, *, region: str = "RU") -> Message | Ignored: ...


# Read-only: nothing registers parsers at import time or later.
PARSERS: Mapping[Channel, Parser] = MappingProxyType(
    {
        Channel.TELEGRAM: parse_telegram,
        Channel.WHATSAPP: parse_whatsapp,
        Channel.AVITO: parse_avito,
        Channel.WEBFORM: parse_webform,
        Channel.MAX: parse_max,
    }
)


def parse_envelope(env: Envelope, *, region: str = "RU") -> Message | Ignored:
    """Parse `env` with its channel's parser; `region` is the default for numbers written without +.

    Raises ParseError when the payload is not usable; never KeyError or TypeError.
    """
    return PARSERS[env.channel](env, region=region)
