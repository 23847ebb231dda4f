"""Sample payloads from tests/payloads and envelopes built around them (imported by the tests here)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.values import Channel, Envelope

PAYLOADS = Path(__file__).parent.parent / "payloads"
RECEIVED_AT = datetime(2026, 10, 1, 10, 0, 0, tzinfo=UTC)


def load_payload(name: str) -> dict[str, Any]:
    """A fresh copy of a sample provider body (tests may mutate it)."""
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def make_envelope(
    channel: Channel,
    payload: Mapping[str, Any],
    *,
    lookups: Mapping[str, Any] | None = None,
    event_id: str = "e1",
    received_at: datetime = RECEIVED_AT,
) -> Envelope:
    return Envelope(id=event_id, channel=channel, received_at=received_at, payload=payload, lookups=lookups or {})
