"""The JSON API under /api: every inbox action, described at /api/openapi.json.

Authentication is the inbox session cookie (POST /api/login sets it). Every write must send
`Content-Type: application/json` and the session's CSRF token in `X-CSRF-Token` (login answers it).

Errors: 400 {"errors": {field: reason}}, 401 not logged in, 403 role, assignment or CSRF,
404 unknown id, 409 refused (merge rules, channel unavailable), 410 the person was erased, 429 too many
login attempts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from app.inbox.auth import CSRF_HEADER
from app.inbox.keys import AUTH, SERVICE
from core.errors import ChannelUnavailable, Erased, FieldErrors, Forbidden, MergeRefused, NotFound
from core.inbox import Session, User

log = logging.getLogger("stitch.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
USER = web.RequestKey("inbox_user", User)
SESSION = web.RequestKey("inbox_session", Session)


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """Route metadata: what the OpenAPI description says about one endpoint."""

    method: str
    path: str
    summary: str
    public: bool = False
    body: dict[str, str] = field(default_factory=dict)  # field -> JSON type
    query: dict[str, str] = field(default_factory=dict)
    roles: str = ""  # plain words on who may call it


OPERATIONS: list[Operation] = []
routes = web.RouteTableDef()
PUBLIC: set[Handler] = set()


def operation(method: str, path: str, summary: str, **meta: Any) -> Callable[[Handler], Handler]:
    op = Operation(method=method, path=path, summary=summary, **meta)

    def register(handler: Handler) -> Handler:
        OPERATIONS.append(op)
        if op.public:
            PUBLIC.add(handler)
        routes.route(method, path)(handler)
        return handler

    return register


def user_of(request: web.Request) -> User:
    return request[USER]


async def body_of(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FieldErrors({"body": "not valid JSON"}) from e
    if not isinstance(body, dict):
        raise FieldErrors({"body": "expected a JSON object"})
    return body


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"ok": False, "error": message, **extra}, status=status)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    public = request.match_info.handler in PUBLIC
    if not public:
        found = await request.config_dict[AUTH].current(request)
        if found is None:
            return _error(401, "log in first")
        request[USER], request[SESSION] = found
        if request.method not in ("GET", "HEAD"):
            if request.content_type != "application/json":
                return _error(415, "send application/json")
            if not request.config_dict[AUTH].csrf_ok(found[1], request.headers.get(CSRF_HEADER)):
                return _error(403, "missing or wrong CSRF token")
    try:
        return await handler(request)
    except FieldErrors as e:
        return _error(400, "invalid input", errors=e.errors)
    except Forbidden as e:
        return _error(403, e.reason, action=e.action)
    except NotFound as e:
        return _error(404, str(e))
    except MergeRefused as e:
        return _error(409, e.reason)
    except Erased as e:
        return _error(410, str(e), person_id=e.person_id)
    except ChannelUnavailable as e:
        return _error(409, e.reason, channel=e.channel)


# -- session -------------------------------------------------------------------------------------
@operation(
    "POST",
    "/login",
    "Log in; sets the session cookie and answers the CSRF token",
    public=True,
    body={"name": "string", "password": "string"},
)
async def login(request: web.Request) -> web.StreamResponse:
    auth = request.config_dict[AUTH]
    if request.content_type != "application/json":
        return _error(415, "send application/json")
    body = await body_of(request)
    name, password = str(body.get("name", "")), str(body.get("password", ""))
    wait = auth.allow_attempt(request.remote or "", name)
    if wait:
        return web.json_response(
            {"ok": False, "error": "too many login attempts"}, status=429, headers={"Retry-After": str(int(wait) + 1)}
        )
    logged = await auth.login(name, password)
    if logged is None:
        log.info("login failed", extra={"remote": request.remote})
        return _error(401, "wrong name or password")
    response = web.json_response(
        {"ok": True, "user": logged.user.name, "role": str(logged.user.role), "csrf": logged.session.csrf}
    )
    auth.set_cookie(response, logged)
    return response


@operation("POST", "/logout", "End the session")
async def logout(request: web.Request) -> web.StreamResponse:
    auth = request.config_dict[AUTH]
    await auth.logout(request)
    response = web.json_response({"ok": True})
    auth.clear_cookie(response)
    return response


@operation("GET", "/me", "The logged-in user, role and CSRF token")
async def me(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    service = request.config_dict[SERVICE]
    return web.json_response(
        {
            "user": user.name,
            "role": str(user.role),
            "csrf": request[SESSION].csrf,
            "may_merge": user.role in service.merge_roles,
            "junk_reasons": list(service.settings.inbox.junk_reasons),
            "first_response_s": service.settings.inbox.first_response_s,
            "legacy_leads": service.settings.inbox.legacy_leads,
        }
    )


# -- persons -------------------------------------------------------------------------------------
@operation(
    "GET",
    "/persons",
    "Persons, unread first; search by name, phone, e-mail, @handle or person id",
    query={"q": "string", "flag": "repeat_lead|repeat_inquiry|repeat_deal", "page": "integer", "per_page": "integer"},
    roles="managers see their own and the unassigned; supervisors and admins all",
)
async def persons(request: web.Request) -> web.StreamResponse:
    q = request.query
    try:
        page, per_page = int(q.get("page", "1")), int(q.get("per_page", "50"))
    except ValueError as e:
        raise FieldErrors({"page": "a whole number"}) from e
    found = await request.config_dict[SERVICE].persons(
        user_of(request), q=q.get("q", ""), flag=q.get("flag", ""), page=page, per_page=per_page
    )
    return web.json_response(
        {"persons": found.rows, "page": found.page, "per_page": found.per_page, "has_next": found.has_next}
    )


@operation("GET", "/persons/{person_id}", "A person: profiles, reply channels, leads, deals, merges, suggestions")
async def person(request: web.Request) -> web.StreamResponse:
    return web.json_response(
        await request.config_dict[SERVICE].person(user_of(request), request.match_info["person_id"])
    )


@operation("GET", "/persons/{person_id}/timeline", "Messages and replies of every channel, oldest first")
async def timeline(request: web.Request) -> web.StreamResponse:
    items = await request.config_dict[SERVICE].timeline(user_of(request), request.match_info["person_id"])
    return web.json_response({"timeline": items})


@operation("GET", "/persons/{person_id}/evidence", "Why this is one person, in plain words (identifiers masked)")
async def evidence(request: web.Request) -> web.StreamResponse:
    links = await request.config_dict[SERVICE].evidence(user_of(request), request.match_info["person_id"])
    # `evidence`: the lines alone, as before; `links`: each with its strength and who linked it.
    return web.json_response({"evidence": [link["text"] for link in links], "links": links})


@operation("POST", "/persons/{person_id}/read", "Mark the person's messages as read")
async def read(request: web.Request) -> web.StreamResponse:
    await request.config_dict[SERVICE].read(user_of(request), request.match_info["person_id"])
    return web.json_response({"ok": True})


@operation(
    "POST",
    "/persons/{person_id}/reply",
    "Reply; default channel: where the customer wrote last",
    body={"text": "string", "channel": "telegram|whatsapp|avito (optional)"},
)
async def reply(request: web.Request) -> web.StreamResponse:
    body = await body_of(request)
    item = await request.config_dict[SERVICE].reply(
        user_of(request), request.match_info["person_id"], str(body.get("text", "")), str(body.get("channel") or "")
    )
    return web.json_response(item, status=201)


@operation(
    "POST",
    "/persons/{person_id}/identifiers",
    "Add a phone or e-mail by hand (used for future resolution)",
    body={"kind": "phone|email", "value": "string"},
)
async def add_identifier(request: web.Request) -> web.StreamResponse:
    body = await body_of(request)
    out = await request.config_dict[SERVICE].add_identifier(
        user_of(request), request.match_info["person_id"], str(body.get("kind", "")), str(body.get("value", ""))
    )
    return web.json_response(out, status=201)


@operation(
    "POST",
    "/persons/{person_id}/link",
    "Merge this person into an existing one (manual merge)",
    body={"existing": "person id"},
    roles="STITCH_MERGE_ROLES (default supervisor, admin)",
)
async def link(request: web.Request) -> web.StreamResponse:
    body = await body_of(request)
    out = await request.config_dict[SERVICE].link(
        user_of(request), request.match_info["person_id"], str(body.get("existing", ""))
    )
    return web.json_response(out, status=201)


@operation(
    "POST",
    "/persons/{person_id}/not-same",
    "Remember that two persons are not the same",
    body={"other": "person id"},
    roles="STITCH_MERGE_ROLES",
)
async def not_same(request: web.Request) -> web.StreamResponse:
    body = await body_of(request)
    await request.config_dict[SERVICE].not_same(
        user_of(request), request.match_info["person_id"], str(body.get("other", ""))
    )
    return web.json_response({"ok": True})


@operation(
    "POST",
    "/merges/{merge_id}/split",
    "Split a merge: each side gets its profiles, messages and leads back",
    roles="STITCH_MERGE_ROLES",
)
async def split(request: web.Request) -> web.StreamResponse:
    out = await request.config_dict[SERVICE].split(user_of(request), request.match_info["merge_id"])
    return web.json_response(out, status=201)


@operation(
    "POST",
    "/persons/{person_id}/reveal",
    "The person's phones and e-mails unmasked (audited)",
    roles="the responsible manager, supervisors and admins",
)
async def reveal(request: web.Request) -> web.StreamResponse:
    shown = await request.config_dict[SERVICE].reveal(user_of(request), request.match_info["person_id"])
    return web.json_response({"identifiers": shown}, headers={"Cache-Control": "no-store"})


# -- one person's data (GDPR, 152-FZ) -------------------------------------------------------------
@operation(
    "GET",
    "/persons/{person_id}/export",
    "Everything held about the person, unmasked, as one JSON document (a download)",
    roles="admin",
)
async def export_person(request: web.Request) -> web.StreamResponse:
    doc = await request.config_dict[SERVICE].export_person(user_of(request), request.match_info["person_id"])
    name = f"person-{doc['person_id']}.json"
    response = web.json_response(doc, dumps=lambda obj: json.dumps(obj, ensure_ascii=False, indent=2))
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@operation(
    "POST",
    "/persons/{person_id}/forget",
    "Erase the person: texts, names, identifiers, profiles, raw events; an audit entry without personal data stays",
    body={"confirm": "the person id again"},
    roles="admin",
)
async def forget_person(request: web.Request) -> web.StreamResponse:
    body = await body_of(request)
    out = await request.config_dict[SERVICE].forget_person(
        user_of(request), request.match_info["person_id"], str(body.get("confirm", ""))
    )
    return web.json_response(out)


# -- review queue --------------------------------------------------------------------------------
@operation("GET", "/review", "Suggested merges, both persons side by side with the evidence")
async def review(request: web.Request) -> web.StreamResponse:
    return web.json_response({"suggestions": await request.config_dict[SERVICE].review(user_of(request))})


@operation(
    "POST",
    "/review/{suggestion_id}/accept",
    "Merge the pair, keeping the chosen primary",
    body={"primary": "person id"},
    roles="STITCH_MERGE_ROLES",
)
async def accept(request: web.Request) -> web.StreamResponse:
    body = await body_of(request)
    out = await request.config_dict[SERVICE].accept(
        user_of(request), request.match_info["suggestion_id"], str(body.get("primary", ""))
    )
    return web.json_response(out, status=201)


@operation("POST", "/review/{suggestion_id}/reject", "Not the same person", roles="STITCH_MERGE_ROLES")
async def reject(request: web.Request) -> web.StreamResponse:
    await request.config_dict[SERVICE].reject(user_of(request), request.match_info["suggestion_id"])
    return web.json_response({"ok": True})


# -- leads and deals -----------------------------------------------------------------------------
@operation(
    "POST",
    "/leads/{lead_id}/stage",
    "Move a lead to a stage, or to junk with a configured reason",
    body={"status": "new|in_progress|qualified|proposal_sent|consent_received|junk", "junk_reason": "string"},
)
async def lead_stage(request: web.Request) -> web.StreamResponse:
    body = await body_of(request)
    out = await request.config_dict[SERVICE].lead_stage(
        user_of(request), request.match_info["lead_id"], str(body.get("status", "")), str(body.get("junk_reason", ""))
    )
    return web.json_response(out)


@operation(
    "POST",
    "/leads/{lead_id}/convert",
    "Convert: Deal + Contact, Deal + Contact + Company, or Deal only",
    body={
        "kind": "contact|contact_company|deal_only",
        "title": "string",
        "amount": "number",
        "contact_name": "string",
        "contact_phone": "string",
        "contact_email": "string",
        "company_name": "string",
        "company_tax_id": "string",
    },
)
async def convert(request: web.Request) -> web.StreamResponse:
    body = await body_of(request)
    out = await request.config_dict[SERVICE].convert(user_of(request), request.match_info["lead_id"], body)
    return web.json_response(out, status=201)


@operation("POST", "/deals/{deal_id}/close", "Close a deal as won or lost", body={"status": "won|lost"})
async def close_deal(request: web.Request) -> web.StreamResponse:
    body = await body_of(request)
    out = await request.config_dict[SERVICE].close_deal(
        user_of(request), request.match_info["deal_id"], str(body.get("status", ""))
    )
    return web.json_response(out)


@operation(
    "GET",
    "/audit",
    "The audit log, newest first (a person's, or all for supervisors and admins)",
    query={"person": "person id", "limit": "integer"},
)
async def audit(request: web.Request) -> web.StreamResponse:
    try:
        limit = min(int(request.query.get("limit", "100")), 1000)
    except ValueError as e:
        raise FieldErrors({"limit": "a whole number"}) from e
    entries = await request.config_dict[SERVICE].audit(user_of(request), request.query.get("person", ""), limit)
    return web.json_response({"audit": entries})


@operation("GET", "/openapi.json", "This description", public=True)
async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(openapi_spec())


def openapi_spec() -> dict[str, Any]:
    """OpenAPI 3.1, generated from the route metadata above."""
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        spec: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "responses": {
                "200": {"description": "ok"},
                **({} if op.public else {"401": {"description": "not logged in"}}),
                **({"403": {"description": "role, assignment or CSRF"}} if not op.public else {}),
            },
        }
        params = [
            {"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
            for p in op.path.split("/")
            if p.startswith("{")
        ]
        params += [
            {"name": k, "in": "query", "required": False, "schema": {"type": "string"}, "description": v}
            for k, v in op.query.items()
        ]
        if params:
            spec["parameters"] = params
        if op.body:
            spec["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {k: {"description": v} for k, v in op.body.items()},
                        }
                    }
                },
            }
        if op.method == "POST" and not op.public:
            spec["parameters"] = [
                *spec.get("parameters", []),
                {"name": CSRF_HEADER, "in": "header", "required": True, "schema": {"type": "string"}},
            ]
        if op.roles:
            spec["description"] = f"Who may call it: {op.roles}."
        if not op.public:
            spec["security"] = [{"session": []}]
        paths.setdefault("/api" + op.path, {})[op.method.lower()] = spec
    return {
        "openapi": "3.1.0",
        "info": {"title": "Stitch inbox API", "version": "1"},
        "components": {"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "stitch_session"}}},
        "paths": paths,
    }


def api_app() -> web.Application:
    app = web.Application(middlewares=[api_middleware])
    app.add_routes(routes)
    return app
