"""One error tree for Stitch.

StitchError
 ├── ConfigError            a setting is missing or malformed (names the key)
 ├── InputError             something from outside cannot be used
 │    ├── ParseError        a provider payload lacks a field we need (names channel + field)
 │    ├── ReplayLineError   a replay line is not a usable envelope (names the line)
 │    ├── ReplayFileError   a replay file cannot be read at all (names the file)
 │    └── FieldErrors       a form or API body failed validation (field -> reason)
 ├── ListenError            `stitch serve` cannot listen where it was told (names host and port)
 ├── AuthError              a webhook or API call failed authentication
 ├── Forbidden              a logged-in user may not do this (names the action)
 ├── StoreError             the store failed
 │    ├── StoreUnavailable  the store URL is malformed or the store does not answer
 │    ├── StoreMissing      a reading command named a store file that is not there
 │    ├── WriteConflict     an optimistic write lost a race; the caller retries
 │    └── LeaseLost         a graph's writer lost its lease: it writes nothing more and stands by
 ├── ResolverError
 │    ├── NotFound          a person, merge, lead or suggestion id is unknown
 │    ├── MergeRefused      a merge or split is not allowed (cannot-link, already undone...)
 │    └── Erased            the person was erased (GDPR, 152-FZ): nothing of them is left to act on
 ├── ModelError             a match-weight model file is missing, corrupt or of another version (names it)
 │    └── TooLittleData     too few pairs to estimate a model from (names the count needed)
 └── ConnectorError         talking to a provider failed
      ├── ChannelUnavailable  the channel is not configured or the customer is unreachable
      └── ProviderError     the provider answered an error (status, retry_after)
"""

from __future__ import annotations

from collections.abc import Mapping


class StitchError(Exception):
    """Base of every error Stitch raises on purpose."""


class ConfigError(StitchError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class InputError(StitchError):
    """Input from outside (webhook, form, replay file, API call) cannot be used."""


class ParseError(InputError):
    def __init__(self, channel: str, field: str, reason: str) -> None:
        super().__init__(f"{channel}: {field}: {reason}")
        self.channel = channel
        self.field = field
        self.reason = reason


class ReplayLineError(InputError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class ReplayFileError(InputError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class FieldErrors(InputError):
    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class ListenError(StitchError):
    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")
        self.host = host
        self.port = port
        self.reason = reason


class AuthError(StitchError):
    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason


class Forbidden(StitchError):
    """A user is logged in but their role or assignment does not allow the action."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"{action}: {reason}")
        self.action = action
        self.reason = reason


class StoreError(StitchError):
    """The store failed."""


class StoreUnavailable(StoreError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"store {url}: {reason}")
        self.url = url
        self.reason = reason


class StoreMissing(StoreError):
    def __init__(self, url: str) -> None:
        super().__init__(f"store {url}: no such store file (reading commands never create one)")
        self.url = url


class WriteConflict(StoreError):
    """An optimistic write lost a race with another worker; the caller reloads and retries."""


class LeaseLost(StoreError):
    """The graph's writer lease is no longer this worker's: its unit wrote nothing; stop resolving."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the writer lease {key} is held by another worker or has lapsed")
        self.key = key


class ResolverError(StitchError):
    """The resolver refused or could not find something."""


class NotFound(ResolverError):
    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"unknown {kind} {ident!r}")
        self.kind = kind
        self.ident = ident


class MergeRefused(ResolverError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Erased(ResolverError):
    def __init__(self, person_id: str) -> None:
        super().__init__(f"person {person_id!r} was erased; nothing of them is left")
        self.person_id = person_id


class ModelError(StitchError):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"model {where}: {reason}")
        self.where = where
        self.reason = reason


class TooLittleData(ModelError):
    def __init__(self, where: str, *, have: int, need: int, what: str) -> None:
        super().__init__(where, f"too little data to train: {have} {what}, at least {need} needed")
        self.have = have
        self.need = need


class ConnectorError(StitchError):
    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason


class ChannelUnavailable(ConnectorError):
    """The channel is not configured, or the customer cannot be reached on it."""


class ProviderError(ConnectorError):
    def __init__(self, channel: str, reason: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(channel, f"{status} {reason}")
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500
