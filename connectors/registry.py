"""Every channel Stitch speaks, one line each: adding a channel is a folder under connectors/ and a
line here (and its name in `core.values.Channel`). See docs/channels.md."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from connectors.avito.channel import AVITO
from connectors.base import ChannelSpec
from connectors.max.channel import MAX
from connectors.telegram.channel import TELEGRAM
from connectors.webform.channel import WEBFORM
from connectors.whatsapp.channel import WHATSAPP
from core.values import Channel

CHANNELS: tuple[ChannelSpec, ...] = (
    TELEGRAM,
    WHATSAPP,
    AVITO,
    WEBFORM,
    MAX,
)

# Read-only: nothing registers channels at import time or later.
SPECS: Mapping[Channel, ChannelSpec] = MappingProxyType({spec.channel: spec for spec in CHANNELS})
