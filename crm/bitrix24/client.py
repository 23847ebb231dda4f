"""A thin asyncio client for a Bitrix24 incoming webhook (`https://<portal>/rest/<user>/<code>/`).

Every request passes the leaky bucket first, then POSTs JSON to `{base}{method}.json`. Errors map to
the `crm.bitrix24.errors` tree; 503 QUERY_LIMIT_EXCEEDED and 5xx are retried with exponential backoff,
429 OPERATION_TIME_LIMIT waits for `time.operating_reset_at`.

The webhook code in the URL is a secret: it never appears in logs, reprs or error messages; only the
portal host does.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp

from core.errors import ConfigError
from crm.bitrix24.errors import (
    QUERY_LIMIT_CODES,
    Bitrix24AuthError,
    Bitrix24Error,
    Bitrix24Throttled,
    Bitrix24Unavailable,
    classify,
)
from crm.bitrix24.query import http_build_query
from crm.bitrix24.throttle import Clock, LeakyBucket, Sleep

log = logging.getLogger("stitch.crm.bitrix24")

URL_KEY = "STITCH_BITRIX24_WEBHOOK_URL"
USER_AGENT = "Stitch/0.1 (+https://github.com/stitch; bitrix24 webhook client)"
REQUEST_TIMEOUT_S = 65.0  # Bitrix24 cuts requests at 60 s; a little slack for the network
MAX_RETRIES = 5
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
MAX_RESET_WAIT_S = 600.0  # OPERATION_TIME_LIMIT counts over 10 minutes; longer waits are a bug
BATCH_LIMIT = 50  # commands per `batch` call (server: ERROR_BATCH_LENGTH_EXCEEDED)
PAGE_SIZE = 50  # rows per list page; fixed by the server
FINDBYCOMM_LIMIT = 20  # values per crm.duplicate.findbycomm call

REQUIRED_SCOPES = ("crm",)
OPTIONAL_SCOPES = ("user",)  # responsible-user lookups; the push works without it

Entity = Literal["lead", "contact", "company", "deal"]
CrmMode = Literal["classic", "simple"]
CommType = Literal["PHONE", "EMAIL"]

_WEBHOOK_PATH = re.compile(r"^/rest/(?P<user>\d+)/(?P<code>[^/]+)/?$")
_BATCH_KEY = re.compile(r"^(?!\d+$)[A-Za-z0-9_.:-]+$")
_RESULT_REF = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")
_REF_PART = re.compile(r"\[([^\]]*)\]")
_MODE_BY_NUMBER: Mapping[int, CrmMode] = {1: "classic", 2: "simple"}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookUrl:
    """A parsed incoming-webhook URL; `str()` and `repr()` hide the code."""

    base: str  # https://portal/rest/1/code/  (secret)
    portal: str  # portal host, safe to log
    user_id: int

    @classmethod
    def parse(cls, url: str) -> WebhookUrl:
        """Validate the URL; a malformed one fails with the settings key, never echoing the code."""
        parts = urlsplit(url.strip())
        match = _WEBHOOK_PATH.match(parts.path)
        if parts.scheme not in ("https", "http") or not parts.netloc or match is None:
            raise ConfigError(URL_KEY, "expected https://<portal>/rest/<user_id>/<code>/")
        base = f"{parts.scheme}://{parts.netloc}/rest/{match['user']}/{match['code']}/"
        return cls(base=base, portal=parts.hostname or parts.netloc, user_id=int(match["user"]))

    def __str__(self) -> str:
        return f"https://{self.portal}/rest/{self.user_id}/***/"

    def __repr__(self) -> str:
        return f"WebhookUrl({self})"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchResult:
    """Per-key outcome of `batch`: results for keys that succeeded, errors for those that failed."""

    results: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, Bitrix24Error] = field(default_factory=dict)
    totals: Mapping[str, int] = field(default_factory=dict)
    nexts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeResult:
    """crm.entity.mergeBatch outcome: SUCCESS, CONFLICT (resolve in the UI) or ERROR."""

    status: str
    deleted_ids: tuple[int, ...] = ()

    @property
    def merged(self) -> bool:
        return self.status == "SUCCESS"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """What `check()` learned about the webhook at start-up."""

    portal: str
    scopes: frozenset[str]
    missing: tuple[str, ...]  # required scopes the webhook lacks (the push cannot work)
    missing_optional: tuple[str, ...]  # nice-to-have scopes the webhook lacks
    mode: CrmMode | None = None

    @property
    def ok(self) -> bool:
        return not self.missing


class Bitrix24Client:
    """Bitrix24 REST over an incoming webhook: throttled, retried, mapped into the error tree.

    Build from a ready `aiohttp.ClientSession` (not closed by `close()`), or with `from_url()`,
    which owns its session.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        bucket: LeakyBucket | None = None,
        max_retries: int = MAX_RETRIES,
        backoff_base: float = BACKOFF_BASE_S,
        backoff_max: float = BACKOFF_MAX_S,
        max_reset_wait: float = MAX_RESET_WAIT_S,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Clock = time.time,
        owns_session: bool = False,
    ) -> None:
        self._session = session
        self._url = WebhookUrl.parse(url)
        self._bucket = bucket if bucket is not None else LeakyBucket(sleep=sleep)
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_reset_wait = max_reset_wait
        self._sleep = sleep
        self._wall = wall_clock
        self._owns_session = owns_session

    @classmethod
    def from_url(cls, url: str, **opts: Any) -> Bitrix24Client:
        """Build a client with its own session (closed by `close()`); opts go to the constructor."""
        WebhookUrl.parse(url)  # fail before opening a session
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        return cls(session, url, owns_session=True, **opts)

    async def close(self) -> None:
        """Close the session if this client opened it."""
        if self._owns_session and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> Bitrix24Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Bitrix24Client({self._url})"

    @property
    def portal(self) -> str:
        return self._url.portal

    @property
    def bucket(self) -> LeakyBucket:
        return self._bucket

    # -- transport ---------------------------------------------------------------------------

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call one REST method and return its `result`; raises a Bitrix24Error subclass."""
        body = await self.call_raw(method, params)
        return body.get("result")

    async def call_raw(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Like `call` but returns the whole answer (`result`, `total`, `next`, `time`)."""
        attempt = 0
        while True:
            await self._bucket.acquire()
            try:
                return await self._post(method, params or {})
            except Bitrix24Error as err:
                delay = self._retry_delay(err, attempt)
                if delay is None:
                    raise
                attempt += 1
                log.warning(
                    "bitrix24 retry",
                    extra={
                        "portal": self.portal,
                        "method": method,
                        "status": err.status,
                        "code": err.code,
                        "attempt": attempt,
                        "delay_s": round(delay, 3),
                    },
                )
                await self._sleep(delay)

    async def _post(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            async with self._session.post(
                f"{self._url.base}{method}.json",
                json=params,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            ) as resp:
                status = resp.status
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
        except aiohttp.ClientConnectorError as e:
            # Connecting failed, so nothing ran on the server: safe to retry (status 503).
            raise Bitrix24Unavailable(
                code="CONNECTION_FAILED", description=type(e).__name__, status=503, method=method
            ) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            # The request may have run (an add may exist now): status 0 so it is not retried blindly.
            raise Bitrix24Unavailable(code="NO_ANSWER", description=type(e).__name__, status=0, method=method) from e
        if not isinstance(body, dict):
            if status >= 400:
                raise classify(status, {}, method)
            raise Bitrix24Unavailable(
                code="INVALID_RESPONSE", description="answer is not a JSON object", status=status, method=method
            )
        if status >= 400 or ("error" in body and "result" not in body):
            raise classify(status, body, method)
        return body

    def _retry_delay(self, err: Bitrix24Error, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None to give up."""
        if attempt >= self._max_retries:
            return None
        backoff = min(self._backoff_max, self._backoff_base * 2.0**attempt)
        if isinstance(err, Bitrix24Throttled):
            if err.reset_at is not None or err.status == 429:
                if err.reset_at is None:
                    return self._backoff_max
                wait = max(0.0, err.reset_at - self._wall())
                return wait if wait <= self._max_reset_wait else None
            if err.code.upper() in QUERY_LIMIT_CODES:
                # The server's bucket is full (maybe filled by other apps on this IP): match it.
                self._bucket.saturate()
            return backoff
        if isinstance(err, Bitrix24AuthError):
            return None
        if err.status >= 500:
            # If the method ran before the 5xx, retrying an add could duplicate it (unknowable from
            # here); outages are far likelier, and callers dedupe via ORIGIN_ID / findbycomm.
            # Timeouts and dropped connections (status 0) are not retried for that reason.
            return backoff
        return None

    # -- batch and lists ----------------------------------------------------------------------

    async def batch(self, cmds: Mapping[str, tuple[str, Mapping[str, Any]]], halt: bool = False) -> BatchResult:
        """Run commands through `batch`, ≤50 per call, in order.

        Keys must be non-numeric (PHP loses numeric keys in `result_error`). A later command may
        reference an earlier one with `$result[key][FIELD]`; across a 50-command split the
        reference is filled in here from the earlier call's result. With `halt`, the first failing
        command stops everything after it.
        """
        for key in cmds:
            if not _BATCH_KEY.match(key):
                raise ValueError(f"batch key {key!r} must be non-numeric [A-Za-z0-9_.:-]")
        results: dict[str, Any] = {}
        errors: dict[str, Bitrix24Error] = {}
        totals: dict[str, int] = {}
        nexts: dict[str, int] = {}
        items = list(cmds.items())
        for start in range(0, len(items), BATCH_LIMIT):
            chunk = items[start : start + BATCH_LIMIT]
            encoded = {
                key: f"{method}?{http_build_query(_fill_refs(params, results))}" for key, (method, params) in chunk
            }
            answer = await self.call("batch", {"halt": 1 if halt else 0, "cmd": encoded})
            self._collect(answer, [k for k, _ in chunk], results, errors, totals, nexts)
            if halt and errors:
                break
        return BatchResult(results=results, errors=errors, totals=totals, nexts=nexts)

    @staticmethod
    def _collect(
        answer: Any,
        keys: list[str],
        results: dict[str, Any],
        errors: dict[str, Bitrix24Error],
        totals: dict[str, int],
        nexts: dict[str, int],
    ) -> None:
        answer = answer if isinstance(answer, Mapping) else {}
        got = _as_map(answer.get("result"), keys)
        results.update(got)
        failed = _as_map(answer.get("result_error"), [k for k in keys if k not in got])
        for key, err in failed.items():
            body = err if isinstance(err, Mapping) else {"error_description": str(err)}
            errors[key] = classify(400, body, method=f"batch:{key}")
        totals.update({k: int(v) for k, v in _as_map(answer.get("result_total"), keys).items()})
        nexts.update({k: int(v) for k, v in _as_map(answer.get("result_next"), keys).items()})

    async def list_all(self, method: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every row of a `*.list` method: ID ascending, `>ID` paging, `start=-1` (no total count)."""
        base = dict(params or {})
        filt = dict(base.pop("filter", None) or {})
        select = list(base.pop("select", None) or ["*"])
        if "*" not in select and "ID" not in select:
            select.append("ID")  # paging needs it
        rows: list[dict[str, Any]] = []
        last = 0
        while True:
            page = await self.call(
                method,
                {**base, "select": select, "order": {"ID": "ASC"}, "filter": {**filt, ">ID": last}, "start": -1},
            )
            if isinstance(page, Mapping):
                page = page.get("items", [])  # crm.item.list wraps rows
            batch = [r for r in page or [] if isinstance(r, dict)]
            rows.extend(batch)
            if len(batch) < PAGE_SIZE:
                return rows
            last = max(int(r.get("ID") or r.get("id") or 0) for r in batch)

    # -- CRM helpers --------------------------------------------------------------------------

    async def find_by_comm(
        self, type: CommType, values: Sequence[str], entity_type: str | None = None
    ) -> dict[str, list[int]]:
        """Duplicates by phone or e-mail: {"LEAD": [..], "CONTACT": [..]}; empty dict for none."""
        found: dict[str, set[int]] = {}
        for i in range(0, len(values), FINDBYCOMM_LIMIT):
            params: dict[str, Any] = {"type": type, "values": list(values[i : i + FINDBYCOMM_LIMIT])}
            if entity_type:
                params["entity_type"] = entity_type
            result = await self.call("crm.duplicate.findbycomm", params)
            if isinstance(result, Mapping):  # `[]` (PHP's empty map) means nothing matched
                for kind, ids in result.items():
                    found.setdefault(str(kind), set()).update(int(x) for x in ids or [])
        return {kind: sorted(ids) for kind, ids in found.items()}

    async def add(self, entity: Entity, fields: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> int:
        """crm.<entity>.add; returns the new ID."""
        body: dict[str, Any] = {"fields": dict(fields)}
        if params:
            body["params"] = dict(params)
        return int(await self.call(f"crm.{entity}.add", body))

    async def update(self, entity: Entity, id: int, fields: Mapping[str, Any]) -> bool:
        """crm.<entity>.update; only the sent fields change (multifields: see the contract)."""
        return bool(await self.call(f"crm.{entity}.update", {"id": id, "fields": dict(fields)}))

    async def delete(self, entity: Entity, id: int) -> None:
        """crm.<entity>.delete (its timeline goes with it); raises Bitrix24NotFound when it is gone already."""
        await self.call(f"crm.{entity}.delete", {"id": id})

    async def get(self, entity: Entity, id: int) -> dict[str, Any]:
        """crm.<entity>.get; raises Bitrix24NotFound when it is gone."""
        result = await self.call(f"crm.{entity}.get", {"id": id})
        return dict(result) if isinstance(result, Mapping) else {}

    async def merge(self, entity_type_id: int, ids: Sequence[int]) -> MergeResult:
        """crm.entity.mergeBatch: the first ID survives, the others are deleted on SUCCESS."""
        result = await self.call(
            "crm.entity.mergeBatch", {"params": {"entityTypeId": entity_type_id, "entityIds": list(ids)}}
        )
        result = result if isinstance(result, Mapping) else {}
        return MergeResult(
            status=str(result.get("STATUS", "ERROR")),
            deleted_ids=tuple(int(x) for x in result.get("ENTITY_IDS") or []),
        )

    async def timeline_comment(self, entity_type: str, entity_id: int, comment: str) -> int:
        """crm.timeline.comment.add; this method accepts only lowercase `fields`."""
        return int(
            await self.call(
                "crm.timeline.comment.add",
                {"fields": {"ENTITY_TYPE": entity_type.lower(), "ENTITY_ID": entity_id, "COMMENT": comment}},
            )
        )

    async def todo_add(
        self,
        owner_type_id: int,
        owner_id: int,
        deadline: str,
        title: str,
        description: str = "",
        responsible_id: int | None = None,
    ) -> int:
        """crm.activity.todo.add (deadline like 2025-02-03T15:00:00); returns the activity ID."""
        params: dict[str, Any] = {
            "ownerTypeId": owner_type_id,
            "ownerId": owner_id,
            "deadline": deadline,
            "title": title,
            "description": description,
        }
        if responsible_id is not None:
            params["responsibleId"] = responsible_id
        result = await self.call("crm.activity.todo.add", params)
        return int(result["id"]) if isinstance(result, Mapping) else int(result)

    async def crm_mode(self) -> CrmMode:
        """ "classic" (leads exist) or "simple" (leads go straight to deals)."""
        raw = await self.call("crm.settings.mode.get")
        mode = _MODE_BY_NUMBER.get(int(raw))
        if mode is None:
            raise Bitrix24Error(
                code="UNEXPECTED_ANSWER",
                description=f"unknown CRM mode {raw!r}",
                status=200,
                method="crm.settings.mode.get",
            )
        return mode

    async def status_list(self, entity_id: str) -> list[dict[str, Any]]:
        """crm.status.list for one directory (STATUS, SOURCE, ...), sorted by SORT."""
        rows = await self.call("crm.status.list", {"filter": {"ENTITY_ID": entity_id}, "order": {"SORT": "ASC"}})
        return [dict(r) for r in rows or [] if isinstance(r, Mapping)]

    async def status_add(self, entity_id: str, status_id: str, name: str, sort: int = 500) -> int:
        """crm.status.add: a custom directory entry (e.g. source STITCH_AVITO)."""
        fields = {"ENTITY_ID": entity_id, "STATUS_ID": status_id, "NAME": name, "SORT": sort}
        return int(await self.call("crm.status.add", {"fields": fields}))

    async def scopes(self) -> frozenset[str]:
        """The webhook's scopes (the `scope` method)."""
        return frozenset(str(s) for s in await self.call("scope") or [])

    async def check(
        self, required: Sequence[str] = REQUIRED_SCOPES, optional: Sequence[str] = OPTIONAL_SCOPES
    ) -> CheckResult:
        """Verify the webhook at start-up: the code works, which scopes are missing, the CRM mode.

        A wrong code raises Bitrix24AuthError whose message says what to fix (never the code).
        """
        try:
            scopes = await self.scopes()
        except Bitrix24AuthError as e:
            raise Bitrix24AuthError(
                code=e.code,
                description=f"{e.description} - Bitrix24 portal {self.portal} refused the webhook in {URL_KEY}",
                status=e.status,
                method="scope",
            ) from e
        missing = tuple(s for s in required if s not in scopes)
        mode = None if missing else await self.crm_mode()
        return CheckResult(
            portal=self.portal,
            scopes=scopes,
            missing=missing,
            missing_optional=tuple(s for s in optional if s not in scopes),
            mode=mode,
        )


def _as_map(value: Any, keys: list[str]) -> dict[str, Any]:
    """PHP serialises an empty map as `[]`, and a map with numeric keys as a list (keys lost);
    a non-empty list is matched to `keys` in order, the best that can be done."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return dict(zip(keys, value, strict=False))
    return {}


def _fill_refs(params: Any, done: Mapping[str, Any]) -> Any:
    """Replace `$result[key][...]` pointing at an earlier batch call with its value."""
    if isinstance(params, Mapping):
        return {k: _fill_refs(v, done) for k, v in params.items()}
    if isinstance(params, list | tuple):
        return [_fill_refs(v, done) for v in params]
    if not isinstance(params, str) or "$result[" not in params:
        return params
    whole = _RESULT_REF.fullmatch(params)
    if whole and whole[1] in done:
        return _resolve(done[whole[1]], whole[2])
    return _RESULT_REF.sub(lambda m: str(_resolve(done[m[1]], m[2])) if m[1] in done else m[0], params)


def _resolve(value: Any, path: str) -> Any:
    for part in _REF_PART.findall(path):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
