"""Replay-file lines ↔ Envelopes (docs: shared/contracts/replay-and-export.md).

A line is `{"id"?, "channel", "received_at", "payload", "lookups"?}`. When `id` is absent it is derived
from the provider's own message id, prefixed with the channel so ids of different providers never
collide: `telegram:<update_id>`, `whatsapp:<MessageSid>`, `avito:<payload.value.id>`,
`max:<message.body.mid>`. A Twilio status callback shares the MessageSid of the message it reports on,
so its id adds the status (`whatsapp:<MessageSid>:<MessageStatus>`).

A web-form submission has no id of its own. Its derived id is `webform:` + the first 32 hex digits of
the SHA-256 of the canonical JSON (keys sorted, no spaces, UTF-8) of
`{"payload": <payload>, "received_at": "<received_at in UTC, RFC 3339>"}`: replaying the same line
always yields the same id, while two identical submissions at different times stay two events. An
Avito subscription probe (`{}`) gets an id the same way, `avito:probe:<hash>`, and so does a MAX update
other than `message_created` (`max:<update_type>:<hash>`): an edit carries the mid of the message it
changes, so the mid alone would collide with the original.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors._payload import rfc3339
from connectors.registry import SPECS
from core.errors import ParseError, ReplayLineError
from core.values import Channel, Envelope

# RFC 3339 date-time (datetime.fromisoformat alone also accepts dates, week dates and naive times).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)

_CHANNELS = frozenset(c.value for c in Channel)


def envelope_from_json(obj: object, *, line: int) -> Envelope:
    """Validate one decoded replay line; raises ReplayLineError naming `line` and the reason."""
    if not isinstance(obj, Mapping):
        raise ReplayLineError(line, "not a JSON object")
    # Fields beyond the contract's are ignored: files exported by other tools may annotate lines.
    raw_channel = obj.get("channel")
    if not isinstance(raw_channel, str) or raw_channel not in _CHANNELS:
        raise ReplayLineError(line, f"unknown channel {raw_channel!r}")
    channel = Channel(raw_channel)

    received_at = _timestamp(obj.get("received_at"), line)

    payload = obj.get("payload")
    if not isinstance(payload, Mapping):
        raise ReplayLineError(line, "payload is not an object")

    lookups = obj.get("lookups")
    if lookups is None:
        lookups = {}
    elif not isinstance(lookups, Mapping):
        raise ReplayLineError(line, "lookups is not an object")

    event_id = obj.get("id")
    if event_id is None:
        try:
            event_id = derive_event_id(channel, payload, received_at)
        except ParseError as e:
            raise ReplayLineError(line, f"no id, and cannot derive one: {e.field} {e.reason}") from e
    elif not isinstance(event_id, str) or not event_id.strip():
        raise ReplayLineError(line, "id is not a non-empty string")

    return Envelope(id=event_id, channel=channel, received_at=received_at, payload=payload, lookups=lookups)


def envelope_to_json(env: Envelope) -> dict[str, Any]:
    """The replay line for `env` (the live path stores raw events in this shape)."""
    line: dict[str, Any] = {
        "id": env.id,
        "channel": str(env.channel),
        "received_at": rfc3339(env.received_at),
        "payload": dict(env.payload),
    }
    if env.lookups:
        line["lookups"] = dict(env.lookups)
    return line


def derive_event_id(channel: Channel, payload: Mapping[str, Any], received_at: datetime) -> str:
    """The event id of a payload that came without one (see the module docstring): the channel's own
    `event_id` in its folder. Live connectors name their envelopes the same way, so a replayed export
    of live events deduplicates against them. Raises ParseError when the provider's message id is
    missing or mistyped.
    """
    return SPECS[channel].event_id(payload, received_at)


def _timestamp(value: object, line: int) -> datetime:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ReplayLineError(line, f"received_at is not an RFC 3339 timestamp: {value!r:.60}")
    # fromisoformat in 3.11 wants an upper-case T and Z.
    text = value.upper()
    text = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError) as e:
        raise ReplayLineError(line, f"received_at is not a valid time: {value!r:.60}") from e
