"""Encoding records for storage; shared by every backend so they read each other's exports alike."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from core.inbox import User
from core.records import CrmJob, Evidence, Lead, MergeRecord, OutboxItem, Person, Profile, StoredMessage, Suggestion
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


# -- records ---------------------------------------------------------------------------------------
# Every stored record is a frozen dataclass; how each field type is kept is decided here, once, from
# the field's annotation, instead of by a hand-written mapping per record and per backend.

R = TypeVar("R")
_MISSING: Any = dataclasses.MISSING


@dataclass(frozen=True, slots=True)
class _Kept:
    """How one field type is kept: a SQL value both ways, and a Redis hash string both ways."""

    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]
    text: Callable[[Any], str]
    parse: Callable[[str], Any]


def _same(value: Any) -> Any:
    return value


def _call(i: int, f: _Field, direction: str, value: str) -> str:
    """The expression converting `value` of field number `i`: none for text, None passed through."""
    converter = f.kept.dump if direction == "dump" else f.kept.load
    if converter is _same:
        return value
    call = f"{direction}{i}({value})"
    return f"(None if {value} is None else {call})" if f.optional else call


def _json_dump(value: Any) -> str:
    return json.dumps(dict(value), ensure_ascii=False)


def float_text(value: float) -> str:
    """A float as a hash or sorted-set string that reads back exactly."""
    return repr(float(value))


_KEPT: dict[Any, _Kept] = {
    str: _Kept(_same, _same, _same, _same),
    int: _Kept(_same, int, str, int),
    float: _Kept(_same, float, float_text, float),
    bool: _Kept(int, bool, lambda v: "1" if v else "0", lambda v: v == "1"),
    datetime: _Kept(ts, dt, lambda v: float_text(ts(v)), dt),
    tuple[Evidence, ...]: _Kept(evidence_dump, evidence_load, evidence_dump, evidence_load),
    Mapping[str, str]: _Kept(_json_dump, json.loads, _json_dump, json.loads),
}


def _kept(hint: Any) -> tuple[_Kept, bool]:
    """How a field annotated `hint` is kept, and whether it may be None (NULL, or no hash field)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return _kept(inner)[0], True
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return _Kept(lambda e: e.value, hint, lambda e: e.value, hint), False
    if hint in _KEPT:
        return _KEPT[hint], False
    raise TypeError(f"no codec for a field of type {hint}")


def _default(f: dataclasses.Field[Any]) -> Callable[[], Any] | None:
    if f.default is not _MISSING:
        value = f.default
        return lambda: value
    factory: Any = f.default_factory
    return None if factory is _MISSING else typing.cast(Callable[[], Any], factory)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    column: str
    key: str
    kept: _Kept
    optional: bool
    default: Callable[[], Any] | None  # the value a missing hash field takes, when the field has one


class RecordCodec(Generic[R]):
    """One record type as a SQL row (its fields in order) and as a Redis hash of strings.

    `columns` and `keys` rename fields whose SQL column or hash field has another name.
    """

    def __init__(
        self, kind: type[R], *, columns: Mapping[str, str] | None = None, keys: Mapping[str, str] | None = None
    ) -> None:
        hints = typing.get_type_hints(kind)
        self.kind = kind
        self.fields = tuple(
            _Field(
                name=f.name,
                column=(columns or {}).get(f.name, f.name),
                key=(keys or {}).get(f.name, f.name),
                kept=(kept := _kept(hints[f.name]))[0],
                optional=kept[1],
                default=_default(f),
            )
            for f in dataclasses.fields(kind)  # type: ignore[arg-type]
        )
        self.columns = ", ".join(f.column for f in self.fields)
        self.marks = ",".join("?" * len(self.fields))
        # Rows are read on the resolver's hot path: as dataclasses do for __init__, the converters
        # are compiled once into one function per direction, as fast as a mapping written by hand.
        self.row: Callable[[R], tuple[Any, ...]] = self._compile(
            "record", [f"{_call(i, f, 'dump', f'record.{f.name}')}" for i, f in enumerate(self.fields)], "({},)"
        )
        self.load: Callable[[Sequence[Any]], R] = self._compile(
            "row", [f"{f.name}={_call(i, f, 'load', f'row[{i}]')}" for i, f in enumerate(self.fields)], "kind({})"
        )

    def _compile(self, arg: str, parts: list[str], shape: str) -> Any:
        scope: dict[str, Any] = {"kind": self.kind}
        for i, f in enumerate(self.fields):
            scope[f"dump{i}"], scope[f"load{i}"] = f.kept.dump, f.kept.load
        exec(f"def convert({arg}):\n    return {shape.format(', '.join(parts))}", scope)
        return scope["convert"]

    def to_hash(self, record: R, *, skip: Iterable[str] = ()) -> dict[str, str | None]:
        """A record's hash fields (`skip`: those kept outside it, such as the id in the key); an
        optional value that is None maps to None, which removes the field."""
        left_out = set(skip)
        return {
            f.key: None if (v := getattr(record, f.name)) is None else f.kept.text(v)
            for f in self.fields
            if f.name not in left_out
        }

    def from_hash(self, h: Mapping[str, str], **given: Any) -> R:
        """The record a hash holds; `given` supplies fields kept outside it (the id in the key).
        A field the hash lacks takes its default (None for an optional one)."""
        values = dict(given)
        for f in self.fields:
            if f.name in values:
                continue
            raw = h.get(f.key)
            if raw is not None:
                values[f.name] = f.kept.parse(raw)
            elif f.optional:
                values[f.name] = None
            elif f.default is not None:
                values[f.name] = f.default()
            else:
                raise KeyError(f.key)
        return self.kind(**values)


PROFILES = RecordCodec(Profile)
PERSONS = RecordCodec(Person)
LEADS = RecordCodec(Lead)
MERGES = RecordCodec(MergeRecord, columns={"into": "into_id", "from_": "from_id"}, keys={"from_": "from"})
SUGGESTIONS = RecordCodec(Suggestion)
MESSAGES = RecordCodec(StoredMessage)
OUTBOX = RecordCodec(OutboxItem, keys={"provider_message_id": "pmid"})
CRM_JOBS = RecordCodec(CrmJob)
USERS = RecordCodec(User)
# The Redis store names a message's hash fields more briefly.
MESSAGE_HASHES = RecordCodec(
    StoredMessage, keys={"provider_message_id": "pmid", "profile_key": "profile", "lead_id": "lead"}
)
