"""Typed reads from raw provider payloads, shared by the channel parsers.

Provider bodies are untrusted JSON: every read checks presence and type and raises ParseError naming
the channel and the field's dotted path, so no KeyError or TypeError ever leaves a parser.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from core.errors import ParseError
from core.phones import emails_in_text, phones_in_text
from core.values import Channel, Envelope, Identifier, IdKind, Provenance

# Telegram caps a message at 4096 characters, Avito at 1000; a longer text is not a chat message and
# scanning it for phone numbers would only cost time.
MAX_SCAN_CHARS = 10_000


class Fields:
    """One JSON object of a payload, read field by field with its position for error messages."""

    __slots__ = ("_channel", "_obj", "_path")

    def __init__(self, channel: Channel, obj: object, path: str = "") -> None:
        # The payload itself has the empty path: its fields are named bare ("MessageSid", "update_id").
        if not isinstance(obj, Mapping):
            raise ParseError(channel, path or "payload", f"expected an object, got {_type_name(obj)}")
        self._channel = channel
        self._obj: Mapping[str, Any] = obj
        self._path = path

    @property
    def raw(self) -> Mapping[str, Any]:
        """The object as received."""
        return self._obj

    def path(self, key: str) -> str:
        """The dotted path of `key` inside the payload, as ParseError names it."""
        return f"{self._path}.{key}" if self._path else key

    def error(self, key: str, reason: str) -> ParseError:
        """A ParseError about `key` of this object."""
        return ParseError(self._channel, self.path(key), reason)

    def present(self, key: str) -> bool:
        """True when `key` is there and not null (JSON null counts as absent everywhere)."""
        return self._obj.get(key) is not None

    def req_obj(self, key: str) -> Fields:
        if not self.present(key):
            raise self.error(key, "missing")
        return Fields(self._channel, self._obj[key], self.path(key))

    def opt_obj(self, key: str) -> Fields | None:
        return self.req_obj(key) if self.present(key) else None

    def opt_list(self, key: str) -> list[Any]:
        value = self._obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_type_name(value)}")
        return value

    def req_str(self, key: str) -> str:
        """A required, non-blank string."""
        value = self.opt_str(key)
        if not value.strip():
            raise self.error(key, "missing")
        return value

    def opt_str(self, key: str, default: str = "") -> str:
        value = self._obj.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_type_name(value)}")
        return value

    def req_int(self, key: str) -> int:
        value = self.opt_int(key)
        if value is None:
            raise self.error(key, "missing")
        return value

    def opt_int(self, key: str) -> int | None:
        value = self._obj.get(key)
        if value is None:
            return None
        # bool is an int subclass in Python but never an id or a timestamp in JSON.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_type_name(value)}")
        return value

    def opt_bool(self, key: str) -> bool:
        value = self._obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(key, f"expected a boolean, got {_type_name(value)}")
        return value

    def unix_time(self, key: str) -> datetime:
        """A required unix timestamp (seconds) as an aware UTC datetime."""
        seconds = self.req_int(key)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as e:
            raise self.error(key, "timestamp out of range") from e


def check_channel(envelope: Envelope, channel: Channel) -> Fields:
    """The envelope's payload as Fields, after checking it was routed to the right parser."""
    if envelope.channel != channel:
        raise ParseError(channel, "channel", f"envelope is for {envelope.channel}")
    return Fields(channel, envelope.payload)


def mentioned(text: str, region: str) -> list[Identifier]:
    """Phones and e-mails written inside a message: weak evidence, they may be someone else's."""
    if not text:
        return []
    scanned = text[:MAX_SCAN_CHARS]
    found = [
        Identifier(kind=IdKind.PHONE, value=p, provenance=Provenance.MENTIONED) for p in phones_in_text(scanned, region)
    ]
    found += [Identifier(kind=IdKind.EMAIL, value=e, provenance=Provenance.MENTIONED) for e in emails_in_text(scanned)]
    return found


def unique(identifiers: Iterable[Identifier]) -> tuple[Identifier, ...]:
    """Drop repeats of the same key, keeping the first; callers list the strongest provenance first."""
    seen: set[str] = set()
    kept: list[Identifier] = []
    for ident in identifiers:
        if ident.key not in seen:
            seen.add(ident.key)
            kept.append(ident)
    return tuple(kept)


def full_name(*parts: str) -> str:
    """Name parts joined by single spaces, blanks skipped."""
    return " ".join(" ".join(p.split()) for p in parts if p and p.strip())


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def rfc3339(moment: datetime) -> str:
    """`moment` in UTC as RFC 3339 with a `Z`, microseconds only when present."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def content_hash(payload: Mapping[str, Any], received_at: datetime) -> str:
    """The id of an event that carries none of its own: the first 32 hex digits of the SHA-256 of the
    canonical JSON of `{"payload", "received_at"}` (keys sorted, no spaces, UTF-8)."""
    canonical = json.dumps(
        {"payload": payload, "received_at": rfc3339(received_at)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def nonblank(value: object) -> str | None:
    """A string with something in it, stripped; None for anything else."""
    return value.strip() if isinstance(value, str) and value.strip() else None
