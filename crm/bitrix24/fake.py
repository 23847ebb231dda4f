"""FakeBitrix24: a local aiohttp server speaking Bitrix24's incoming-webhook wire format.

For tests and the demo. It reproduces what the push depends on (see
shared/contracts/bitrix24.md, section 5): routing and auth by webhook code, JSON and PHP-bracket
bodies, case-insensitive `fields` (lowercase only for crm.timeline.comment.add), string IDs on read
and int IDs from add, multifield update semantics, `total`/`next` paging and `start=-1`,
`"result": []` for an empty findbycomm, mergeBatch SUCCESS/CONFLICT, IS_RETURN_CUSTOMER on leads,
batch with `$result` references and PHP's list-vs-map quirks, business errors as 400 with an empty
code, a 503 leaky bucket, 429 OPERATION_TIME_LIMIT, and a "down" switch.

Switches (plain attributes and methods, set between calls):
    rate_limit, bucket_capacity, bucket_rate   the 503 QUERY_LIMIT_EXCEEDED bucket (on by default)
    fill_bucket()                              pretend other apps filled the bucket
    go_down(calls, status=503|500)             the next `calls` requests fail without running
    limit_operations(calls, reset_in)          the next `calls` requests get 429 OPERATION_TIME_LIMIT
    mode                                       "classic" | "simple" (crm.settings.mode.get)
    scopes                                     what the `scope` method reports
    merge_conflict_fields                      scalar fields whose differing values make a CONFLICT
    calls                                      every request, recorded (RecordedCall)

Also `crm.lead.contact.add` (link a contact to a lead without touching IS_RETURN_CUSTOMER).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from crm.bitrix24.query import parse_php_query

ENTITIES = ("lead", "contact", "company", "deal")
ENTITY_TYPE_IDS = {1: "lead", 2: "deal", 3: "contact", 4: "company"}
MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM", "LINK")
DEFAULT_VALUE_TYPE = "WORK"
FIELD_KEYS = ("fields", "FIELDS", "Fields", "arFields")  # CCrmRestHelper::resolveArrayParam
PAGE_SIZE = 50
BATCH_LIMIT = 50
FINDBYCOMM_LIMIT = 20
BUCKET_CAPACITY = 50  # X on cloud plans
BUCKET_RATE = 2.0  # Y per second
OPERATING_WINDOW_S = 600.0
DEFAULT_SCOPES = ("crm", "user")
DEFAULT_CONFLICT_FIELDS = frozenset({"NAME", "LAST_NAME", "SECOND_NAME"})
MODE_NUMBERS = {"classic": 1, "simple": 2}

_FILTER_KEY = re.compile(r"^(>=|<=|!=|!@|=|>|<|@|%|!)?(.+)$")
_RESULT_REF = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")
_REF_PART = re.compile(r"\[([^\]]*)\]")

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedCall:
    """One request as the fake saw it (batch commands are recorded too, with `in_batch`)."""

    method: str
    params: Mapping[str, Any]
    status: int
    in_batch: bool = False


class _Fail(Exception):
    """A handler's error answer."""

    def __init__(self, status: int, code: Any, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description


def _not_found() -> _Fail:
    # Older crm.* methods: 400 with an empty code and only a description.
    return _Fail(400, "", "Not found")


@dataclass(slots=True)
class _Bucket:
    clock: Clock
    capacity: int
    rate: float
    level: float = 0.0
    last: float = field(default=0.0)

    def admit(self) -> bool:
        now = self.clock()
        self.level = max(0.0, self.level - (now - self.last) * self.rate)
        self.last = now
        if self.level + 1 > self.capacity:
            return False
        self.level += 1
        return True


class FakeBitrix24:
    """An in-memory Bitrix24 portal behind a real HTTP server."""

    def __init__(
        self,
        *,
        user_id: int = 1,
        code: str | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.user_id = user_id
        self.code = code or secrets.token_hex(8)
        self.clock = clock
        self.wall_clock = wall_clock
        self.rate_limit = True
        self.bucket_capacity = BUCKET_CAPACITY
        self.bucket_rate = BUCKET_RATE
        self.mode = "classic"
        self.scopes: list[str] = list(DEFAULT_SCOPES)
        self.merge_conflict_fields: frozenset[str] = DEFAULT_CONFLICT_FIELDS
        self.calls: list[RecordedCall] = []
        self.entities: dict[str, dict[int, dict[str, Any]]] = {e: {} for e in ENTITIES}
        self.comments: dict[int, dict[str, Any]] = {}
        self.todos: dict[int, dict[str, Any]] = {}
        self.statuses: list[dict[str, Any]] = _default_statuses()
        self._bucket: _Bucket | None = None
        self._down_calls = 0
        self._down_status = 503
        self._limited_calls = 0
        self._reset_in = 0.0
        self._ids: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = any free port) and return the webhook URL."""
        app = web.Application()
        app.router.add_route("*", "/rest/{uid}/{code}/{method}", self._handle)
        # No access log: it would print the webhook code, which stands in for a secret.
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_port = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound_port}/rest/{self.user_id}/{self.code}/"
        return self.url

    async def close(self) -> None:
        """Stop the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- switches -----------------------------------------------------------------------------

    def fill_bucket(self) -> None:
        """Fill the leaky bucket: the next requests get 503 until it drains."""
        bucket = self._get_bucket()
        bucket.admit()
        bucket.level = float(bucket.capacity)

    def go_down(self, calls: int, status: int = 503) -> None:
        """Fail the next `calls` requests with `status` (500 JSON or 503 HTML) without running them."""
        self._down_calls = calls
        self._down_status = status

    def limit_operations(self, calls: int = 1, reset_in: float = 30.0) -> None:
        """Answer the next `calls` requests 429 OPERATION_TIME_LIMIT, resetting `reset_in` s later."""
        self._limited_calls = calls
        self._reset_in = reset_in

    def seed(self, entity: str, fields: Mapping[str, Any]) -> int:
        """Insert an entity directly (no request recorded); returns its ID."""
        return self._add(entity, dict(fields))

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Recorded calls of one method (case-insensitive)."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def _get_bucket(self) -> _Bucket:
        b = self._bucket
        if b is None or b.capacity != self.bucket_capacity or b.rate != self.bucket_rate:
            b = _Bucket(clock=self.clock, capacity=self.bucket_capacity, rate=self.bucket_rate, last=self.clock())
            self._bucket = b
        return b

    # -- HTTP ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = self.wall_clock()
        method = request.match_info["method"]
        method = method.removesuffix(".json")
        if not (
            request.match_info["uid"] == str(self.user_id)
            and secrets.compare_digest(request.match_info["code"], self.code)
        ):
            return self._answer(method, {}, started, _Fail(401, "NO_AUTH_FOUND", "Wrong authorization data"))
        params = await self._params(request)
        if self._down_calls > 0:
            self._down_calls -= 1
            if self._down_status == 503:
                self.calls.append(RecordedCall(method=method, params=params, status=503))
                return web.Response(
                    status=503, text="<html><body>503 Service Unavailable</body></html>", content_type="text/html"
                )
            return self._answer(
                method, params, started, _Fail(self._down_status, "INTERNAL_SERVER_ERROR", "Internal server error")
            )
        if self._limited_calls > 0:
            self._limited_calls -= 1
            return self._answer(
                method,
                params,
                started,
                _Fail(429, "OPERATION_TIME_LIMIT", "Operation time limit exceeded"),
                reset_at=started + self._reset_in,
            )
        if self.rate_limit and not self._get_bucket().admit():
            return self._answer(method, params, started, _Fail(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
        try:
            body = self._dispatch(method, params)
        except _Fail as f:
            return self._answer(method, params, started, f)
        return self._answer(method, params, started, None, body)

    def _answer(
        self,
        method: str,
        params: Mapping[str, Any],
        started: float,
        fail: _Fail | None,
        body: dict[str, Any] | None = None,
        reset_at: float | None = None,
    ) -> web.Response:
        status = fail.status if fail else 200
        self.calls.append(RecordedCall(method=method, params=params, status=status))
        out: dict[str, Any] = {"error": fail.code, "error_description": fail.description} if fail else dict(body or {})
        out["time"] = self._time_block(started, reset_at)
        return web.json_response(out, status=status)

    def _time_block(self, started: float, reset_at: float | None = None) -> dict[str, Any]:
        finished = self.wall_clock()
        return {
            "start": started,
            "finish": finished,
            "duration": finished - started,
            "processing": finished - started,
            "date_start": datetime.fromtimestamp(started, UTC).isoformat(),
            "date_finish": datetime.fromtimestamp(finished, UTC).isoformat(),
            "operating_reset_at": reset_at if reset_at is not None else started + OPERATING_WINDOW_S,
            "operating": 0,
        }

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = parse_php_query(request.query_string) if request.query_string else {}
        if request.method != "POST" or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            raw = await request.text()
            body = _json_loads(raw) if raw.strip() else {}
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            pairs = [(k, v) for k, v in form.items() if isinstance(v, str)]
            params.update(parse_php_query(urlencode(pairs)))
        return params

    # -- dispatch -----------------------------------------------------------------------------

    def _dispatch(self, method: str, params: Mapping[str, Any], in_batch: bool = False) -> dict[str, Any]:
        name = method.lower()
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "crm" and parts[1] in ENTITIES:
            entity, action = parts[1], parts[2]
            handler = getattr(self, f"_entity_{action}", None)
            if handler is not None:
                result: dict[str, Any] = handler(entity, params)
                return result
        simple: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "crm.duplicate.findbycomm": self._findbycomm,
            "crm.entity.mergebatch": self._merge_batch,
            "crm.timeline.comment.add": self._comment_add,
            "crm.activity.todo.add": self._todo_add,
            "crm.settings.mode.get": lambda p: {"result": MODE_NUMBERS[self.mode]},
            "crm.status.list": self._status_list,
            "crm.status.add": self._status_add,
            "crm.lead.contact.add": self._lead_contact_add,
            "scope": lambda p: {"result": list(self.scopes)},
        }
        if name == "batch":
            if in_batch:
                raise _Fail(400, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method not allowed in batch")
            return self._batch(params)
        if name not in simple:
            raise _Fail(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        return simple[name](params)

    # -- entities -----------------------------------------------------------------------------

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    @staticmethod
    def _fields(params: Mapping[str, Any]) -> dict[str, Any]:
        for key in FIELD_KEYS:
            value = params.get(key)
            if isinstance(value, Mapping):
                return dict(value)
        return {}

    @staticmethod
    def _id(params: Mapping[str, Any]) -> int:
        raw = params.get("id", params.get("ID"))
        try:
            return int(str(raw))
        except (TypeError, ValueError):
            raise _Fail(400, "", "ID is not defined or invalid.") from None

    def _record(self, entity: str, ident: int) -> dict[str, Any]:
        rec = self.entities[entity].get(ident)
        if rec is None:
            raise _not_found()
        return rec

    def _add(self, entity: str, fields: dict[str, Any]) -> int:
        ident = self._next_id(entity)
        rec: dict[str, Any] = {"ID": str(ident)}
        if entity == "lead":
            rec["STATUS_ID"] = "NEW"
        if entity == "deal":
            rec.update(IS_RETURN_CUSTOMER="N", IS_REPEATED_APPROACH="N")
        self._write(entity, rec, fields)
        self.entities[entity][ident] = rec
        return ident

    def _write(self, entity: str, rec: dict[str, Any], fields: Mapping[str, Any]) -> None:
        for key, value in fields.items():
            key = str(key).upper()
            if key == "ID" or (entity == "lead" and key == "IS_RETURN_CUSTOMER"):
                continue  # ID is the server's; a lead's repeat flag is read-only
            if key in MULTIFIELDS:
                rec[key] = self._multifield(key, rec.get(key, []), value)
            else:
                rec[key] = _stringify(value)
        if entity == "lead":
            # Saving a lead with a contact or company makes it a repeat lead; otherwise keep it.
            linked = any(fields.get(k) not in (None, "", "0", 0) for k in ("CONTACT_ID", "COMPANY_ID"))
            rec["IS_RETURN_CUSTOMER"] = "Y" if linked else rec.get("IS_RETURN_CUSTOMER", "N")

    def _multifield(self, type_id: str, current: list[dict[str, str]], value: Any) -> list[dict[str, str]]:
        items = list(value.values()) if isinstance(value, Mapping) else list(value or [])
        out = [dict(x) for x in current]
        for item in items:
            if not isinstance(item, Mapping):
                continue
            item_id = str(item.get("ID", "") or "")
            val = str(item.get("VALUE", "") or "")
            if item_id:
                existing = next((x for x in out if x["ID"] == item_id), None)
                if existing is None:
                    continue
                if str(item.get("DELETE", "")).upper() == "Y" or not val:
                    out.remove(existing)  # DELETE=Y, empty VALUE, or ID alone
                else:
                    existing["VALUE"] = val
                    existing["VALUE_TYPE"] = str(item.get("VALUE_TYPE") or existing["VALUE_TYPE"])
            elif val:
                value_type = str(item.get("VALUE_TYPE") or DEFAULT_VALUE_TYPE)
                out.append(
                    {"ID": str(self._next_id("multifield")), "VALUE_TYPE": value_type, "VALUE": val, "TYPE_ID": type_id}
                )
        return out

    def _public(self, rec: Mapping[str, Any], select: list[str] | None = None) -> dict[str, Any]:
        wanted = None if select is None else {s.upper() for s in select}
        out: dict[str, Any] = {}
        for key, value in rec.items():
            if key in MULTIFIELDS:
                # get returns multifields when set; list only when selected by name ("*" excludes them)
                if value and (wanted is None or key in wanted):
                    out[key] = [dict(x) for x in value]
            elif wanted is None or "*" in wanted or key in wanted or key == "ID":
                out[key] = value
        if wanted is None:
            out["HAS_PHONE"] = "Y" if rec.get("PHONE") else "N"
            out["HAS_EMAIL"] = "Y" if rec.get("EMAIL") else "N"
        return out

    def _entity_add(self, entity: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"result": self._add(entity, self._fields(params))}

    def _entity_update(self, entity: str, params: Mapping[str, Any]) -> dict[str, Any]:
        rec = self._record(entity, self._id(params))
        self._write(entity, rec, self._fields(params))
        return {"result": True}

    def _entity_get(self, entity: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"result": self._public(self._record(entity, self._id(params)))}

    def _entity_delete(self, entity: str, params: Mapping[str, Any]) -> dict[str, Any]:
        ident = self._id(params)
        self._record(entity, ident)
        del self.entities[entity][ident]
        # Bitrix24 deletes a record's timeline with it, its comments included.
        for key in [k for k, c in self.comments.items() if (c["ENTITY_TYPE"], c["ENTITY_ID"]) == (entity, ident)]:
            del self.comments[key]
        return {"result": True}

    def _entity_list(self, entity: str, params: Mapping[str, Any]) -> dict[str, Any]:
        rows = [r for r in self.entities[entity].values() if _matches(r, params.get("filter") or {})]
        order = params.get("order") or {"ID": "ASC"}
        for key, direction in reversed(list(dict(order).items())):
            rows.sort(key=_by_field(str(key).upper()), reverse=str(direction).upper() == "DESC")
        select = params.get("select")
        select_list = [str(s) for s in select] if isinstance(select, list) and select else ["*"]
        start = int(params.get("start", 0) or 0)
        if start == -1:  # the fast path: no count, no `next`
            return {"result": [self._public(r, select_list) for r in rows[:PAGE_SIZE]]}
        page = rows[start : start + PAGE_SIZE]
        body: dict[str, Any] = {"result": [self._public(r, select_list) for r in page], "total": len(rows)}
        if start + PAGE_SIZE < len(rows):
            body["next"] = start + PAGE_SIZE
        return body

    def _lead_contact_add(self, params: Mapping[str, Any]) -> dict[str, Any]:
        # Links a contact to a lead without saving the lead: IS_RETURN_CUSTOMER stays as it was.
        rec = self._record("lead", self._id(params))
        contact = int(str(self._fields(params).get("CONTACT_ID", 0) or 0))
        if contact not in self.entities["contact"]:
            raise _not_found()
        ids = [str(x) for x in rec.get("CONTACT_IDS") or []]
        if str(contact) not in ids:
            ids.append(str(contact))
        rec["CONTACT_IDS"] = ids
        rec["CONTACT_ID"] = rec.get("CONTACT_ID") or str(contact)
        return {"result": True}

    # -- duplicates and merge -----------------------------------------------------------------

    def _findbycomm(self, params: Mapping[str, Any]) -> dict[str, Any]:
        comm = str(params.get("type", "")).upper()
        if comm not in ("PHONE", "EMAIL"):
            raise _Fail(400, "", "Communication type is not defined.")
        values = params.get("values") or []
        if not isinstance(values, list) or not values:
            raise _Fail(400, "", "Communication values is not defined.")
        if len(values) > FINDBYCOMM_LIMIT:
            raise _Fail(400, "", f"Communication values is too many (max {FINDBYCOMM_LIMIT}).")
        wanted = {_norm_comm(comm, str(v)) for v in values} - {""}
        asked = params.get("entity_type")
        kinds = [str(asked).lower()] if asked else ["lead", "contact", "company"]
        found: dict[str, list[int]] = {}
        for kind in kinds:
            ids = sorted(
                ident
                for ident, rec in self.entities.get(kind, {}).items()
                if any(_norm_comm(comm, x["VALUE"]) in wanted for x in rec.get(comm, []))
            )
            if ids:
                found[kind.upper()] = ids
        return {"result": found or []}  # PHP: an empty map is []

    def _merge_batch(self, params: Mapping[str, Any]) -> dict[str, Any]:
        inner = params.get("params") if isinstance(params.get("params"), Mapping) else params
        assert isinstance(inner, Mapping)
        entity = ENTITY_TYPE_IDS.get(int(inner.get("entityTypeId", 0) or 0))
        ids = [int(x) for x in inner.get("entityIds") or []]
        if entity is None:
            raise _Fail(400, 0, "Entity type is not supported.")
        if len(ids) < 2:
            raise _Fail(400, 0, "At least two entities are required.")
        if any(i not in self.entities[entity] for i in ids):
            raise _Fail(400, 0, "Not found")  # mergeBatch's integer error code
        recs = [self.entities[entity][i] for i in ids]
        for name in self.merge_conflict_fields:
            distinct = {str(r.get(name, "")).strip().lower() for r in recs} - {""}
            if len(distinct) > 1:
                return {"result": {"STATUS": "CONFLICT", "ENTITY_IDS": []}}
        keep, *gone = recs
        for rec in gone:
            for key, value in rec.items():
                if key in MULTIFIELDS:
                    have = {x["VALUE"] for x in keep.get(key, [])}
                    keep[key] = keep.get(key, []) + [dict(x) for x in value if x["VALUE"] not in have]
                elif key != "ID" and value not in (None, "") and keep.get(key) in (None, ""):
                    keep[key] = value
        for ident in ids[1:]:
            del self.entities[entity][ident]
        return {"result": {"STATUS": "SUCCESS", "ENTITY_IDS": ids[1:]}}

    # -- timeline, activities, statuses ------------------------------------------------------

    def _comment_add(self, params: Mapping[str, Any]) -> dict[str, Any]:
        fields = params.get("fields")  # since crm 23.100.0: lowercase only
        if not isinstance(fields, Mapping):
            raise _Fail(400, "INVALID_ARG_VALUE", "Parameter 'fields' is required.")
        entity = str(fields.get("ENTITY_TYPE", "")).lower()
        if entity not in ENTITIES:
            raise _Fail(400, "INVALID_ARG_VALUE", "ENTITY_TYPE is invalid.")
        if not str(fields.get("COMMENT", "")).strip():
            raise _Fail(400, "INVALID_ARG_VALUE", "COMMENT is empty.")
        try:
            owner = int(fields.get("ENTITY_ID", 0))
        except (TypeError, ValueError):
            owner = 0
        if owner not in self.entities[entity]:
            raise _Fail(400, "OWNER_NOT_FOUND", "Owner entity is not found.")
        ident = self._next_id("comment")
        self.comments[ident] = {"ENTITY_TYPE": entity, "ENTITY_ID": owner, "COMMENT": str(fields["COMMENT"])}
        return {"result": ident}

    def _todo_add(self, params: Mapping[str, Any]) -> dict[str, Any]:
        entity = ENTITY_TYPE_IDS.get(int(params.get("ownerTypeId", 0) or 0))
        owner = int(params.get("ownerId", 0) or 0)
        if entity is None or owner not in self.entities[entity]:
            raise _Fail(400, "NOT_FOUND", "Owner is not found.")
        if not params.get("deadline"):
            raise _Fail(400, "INVALID_ARG_VALUE", "deadline is required.")
        ident = self._next_id("activity")
        self.todos[ident] = {
            "ownerTypeId": entity,
            "ownerId": owner,
            **{k: params.get(k) for k in ("deadline", "title", "description", "responsibleId")},
        }
        return {"result": {"id": ident}}

    def _status_list(self, params: Mapping[str, Any]) -> dict[str, Any]:
        rows = [r for r in self.statuses if _matches(r, params.get("filter") or {})]
        rows.sort(key=lambda r: int(r["SORT"]))
        return {"result": [dict(r) for r in rows]}

    def _status_add(self, params: Mapping[str, Any]) -> dict[str, Any]:
        fields = self._fields(params)
        entity_id, status_id, name = (str(fields.get(k, "")) for k in ("ENTITY_ID", "STATUS_ID", "NAME"))
        if not (entity_id and status_id and name):
            raise _Fail(400, "", "ENTITY_ID, STATUS_ID and NAME are required.")
        if any(r["ENTITY_ID"] == entity_id and r["STATUS_ID"] == status_id for r in self.statuses):
            raise _Fail(400, "", "Status already exists.")
        ident = max(int(r["ID"]) for r in self.statuses) + 1
        self.statuses.append(
            {
                "ID": str(ident),
                "ENTITY_ID": entity_id,
                "STATUS_ID": status_id,
                "NAME": name,
                "NAME_INIT": "",
                "SORT": str(fields.get("SORT", 500)),
                "SYSTEM": "N",
            }
        )
        return {"result": ident}

    # -- batch --------------------------------------------------------------------------------

    def _batch(self, params: Mapping[str, Any]) -> dict[str, Any]:
        raw_cmd = params.get("cmd") or {}
        cmds: dict[str, str] = (
            {str(i): str(c) for i, c in enumerate(raw_cmd)}
            if isinstance(raw_cmd, list)
            else {str(k): str(v) for k, v in dict(raw_cmd).items()}
        )
        if len(cmds) > BATCH_LIMIT:
            raise _Fail(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
        halt = str(params.get("halt", 0)).lower() in ("1", "true", "y")
        result: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        times: dict[str, Any] = {}
        for key, cmd in cmds.items():
            started = self.wall_clock()
            method, _, query = cmd.partition("?")
            method = method.removesuffix(".json")
            sub = _fill_refs(parse_php_query(query), result)
            try:
                body = self._dispatch(method, sub, in_batch=True)
            except _Fail as f:
                self.calls.append(RecordedCall(method=method, params=sub, status=f.status, in_batch=True))
                errors[key] = {"error": f.code, "error_description": f.description}
                if halt:
                    break
                continue
            self.calls.append(RecordedCall(method=method, params=sub, status=200, in_batch=True))
            result[key] = body.get("result")
            if "total" in body:
                totals[key] = body["total"]
            if "next" in body:
                nexts[key] = body["next"]
            times[key] = self._time_block(started)
        numeric = bool(cmds) and all(k.isdigit() for k in cmds)
        return {
            "result": {
                "result": _php_map(result, numeric),
                "result_error": _php_map(errors, numeric),
                "result_total": _php_map(totals, numeric),
                "result_next": _php_map(nexts, numeric),
                "result_time": _php_map(times, numeric),
            }
        }


# -- helpers ----------------------------------------------------------------------------------


def _json_loads(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise _Fail(400, "INVALID_REQUEST", "Request body is not valid JSON") from None


def _stringify(value: Any) -> Any:
    # Bitrix24 hands IDs and numbers back as strings.
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if value is None:
        return ""
    return value


def _php_map(value: dict[str, Any], numeric: bool) -> Any:
    # PHP's json_encode: an empty array is `[]`; sequential numeric keys turn a map into a list.
    if not value or numeric:
        return list(value.values())
    return value


def _norm_comm(comm: str, value: str) -> str:
    if comm == "PHONE":
        return re.sub(r"\D", "", value.split(";")[0])
    return value.strip().lower()


def _sort_key(value: Any) -> tuple[int, float, str]:
    text = str(value or "")
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text.lower())


def _by_field(name: str) -> Callable[[Mapping[str, Any]], tuple[int, float, str]]:
    return lambda rec: _sort_key(rec.get(name))


def _field_values(rec: Mapping[str, Any], name: str) -> list[str]:
    value = rec.get(name)
    if name in MULTIFIELDS:
        return [x["VALUE"] for x in value or []]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value if value is not None else "")]


def _matches(rec: Mapping[str, Any], filt: Mapping[str, Any]) -> bool:
    for raw_key, wanted in filt.items():
        m = _FILTER_KEY.match(str(raw_key))
        if m is None:
            continue
        op, name = m[1] or "=", m[2].upper()
        have = _field_values(rec, name)
        wanted_list = [str(w) for w in wanted] if isinstance(wanted, list) else [str(wanted)]
        if op in ("=", "@"):
            ok = any(h == w for h in have for w in wanted_list)
        elif op in ("!", "!=", "!@"):
            ok = not any(h == w for h in have for w in wanted_list)
        elif op == "%":
            ok = any(w.lower() in h.lower() for h in have for w in wanted_list)
        else:
            ok = any(_compare(op, h, wanted_list[0]) for h in have)
        if not ok:
            return False
    return True


def _compare(op: str, have: str, wanted: str) -> bool:
    a, b = _sort_key(have), _sort_key(wanted)
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _fill_refs(params: Any, results: Mapping[str, Any]) -> Any:
    if isinstance(params, dict):
        return {k: _fill_refs(v, results) for k, v in params.items()}
    if isinstance(params, list):
        return [_fill_refs(v, results) for v in params]
    if not isinstance(params, str) or "$result[" not in params:
        return params
    whole = _RESULT_REF.fullmatch(params)
    if whole and whole[1] in results:
        return _resolve(results[whole[1]], whole[2])
    return _RESULT_REF.sub(lambda m: str(_resolve(results.get(m[1]), m[2]) or ""), params)


def _resolve(value: Any, path: str) -> Any:
    for part in _REF_PART.findall(path):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _default_statuses() -> list[dict[str, Any]]:
    rows: list[tuple[str, str, str]] = [
        ("STATUS", "NEW", "New"),
        ("STATUS", "IN_PROCESS", "In progress"),
        ("STATUS", "PROCESSED", "Processed"),
        ("STATUS", "JUNK", "Junk"),
        ("STATUS", "CONVERTED", "Converted"),
        ("SOURCE", "CALL", "Call"),
        ("SOURCE", "EMAIL", "E-mail"),
        ("SOURCE", "WEB", "Website"),
        ("SOURCE", "WEBFORM", "CRM form"),
        ("SOURCE", "CALLBACK", "Callback"),
        ("SOURCE", "OTHER", "Other"),
    ]
    return [
        {"ID": str(i), "ENTITY_ID": e, "STATUS_ID": s, "NAME": n, "NAME_INIT": n, "SORT": str(10 * i), "SYSTEM": "Y"}
        for i, (e, s, n) in enumerate(rows, start=1)
    ]
