"""Encoding records for storage; shared by every backend so they read each other's exports alike."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.records import Evidence
from core.values import Channel, Envelope


def ts(at: datetime) -> float:
    return at.timestamp()


def dt(value: float | str | bytes) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)


def evidence_dump(evidence: Sequence[Evidence]) -> str:
    return json.dumps(
        [{"rule": e.rule, "detail": e.detail, "score": e.score, "values": dict(e.values)} for e in evidence],
        ensure_ascii=False,
    )


def blank_evidence(evidence: Sequence[Evidence]) -> tuple[Evidence, ...]:
    """Erasure: keep which rules joined and how strongly; drop the compared values and the words naming them."""
    return tuple(Evidence(rule=item.rule, detail="", score=item.score) for item in evidence)


def evidence_load(raw: str | bytes) -> tuple[Evidence, ...]:
    return tuple(
        Evidence(rule=e["rule"], detail=e["detail"], score=float(e["score"]), values=e.get("values", {}))
        for e in json.loads(raw)
    )


def envelope_dump(envelope: Envelope) -> str:
    return json.dumps(
        {
            "id": envelope.id,
            "channel": envelope.channel.value,
            "received_at": envelope.received_at.isoformat(),
            "payload": envelope.payload,
            "lookups": envelope.lookups,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def envelope_load(raw: str | bytes) -> Envelope:
    obj: dict[str, Any] = json.loads(raw)
    return Envelope(
        id=obj["id"],
        channel=Channel(obj["channel"]),
        received_at=datetime.fromisoformat(obj["received_at"]),
        payload=obj["payload"],
        lookups=obj.get("lookups") or {},
    )
