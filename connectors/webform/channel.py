"""The web form's entry in the channel registry.

Its endpoint (`POST /forms/{form_id}`: CORS, honeypot, rate limit) is served by app/forms.py and no
reply can be sent to it, so it has no live connector: only its pure parser and event ids.
"""

from __future__ import annotations

from connectors.base import BaseConnector, ChannelSpec
from connectors.webform.parse import event_id, parse
from core.config import Settings
from core.values import Channel


def build(settings: Settings) -> BaseConnector | None:
    return None


WEBFORM = ChannelSpec(channel=Channel.WEBFORM, parse=parse, event_id=event_id, build=build)
