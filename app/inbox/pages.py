"""The inbox pages under /inbox: server-rendered HTML plus one small script (static/inbox.js).

Pages read through InboxService like the API does; every write goes from the script to the JSON
API with the session's CSRF token, so there is one set of checks. Live updates: Server-Sent Events.
"""

from __future__ import annotations

import secrets
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp_sse import sse_response

from app.inbox.auth import COOKIE, LOGIN_CSRF_COOKIE
from app.inbox.keys import AUTH, BROKER, SERVICE
from app.inbox.live import feed
from app.inbox.service import FLAGS, STAGES
from app.masking import MASKED_IN_TEXT
from app.ops.access import OPS_ROLES
from core.errors import Erased, Forbidden, NotFound
from core.inbox import Role, Session, User

STATIC = Path(__file__).parent / "static"
ICON = STATIC / "icon.svg"
# Named in every page's head (the ops pages' too): without it the browser asks for /favicon.ico.
ICON_LINK = '<link rel="icon" href="/inbox/static/icon.svg" type="image/svg+xml">'
routes = web.RouteTableDef()

BADGE = {"telegram": "TG", "whatsapp": "WA", "avito": "AV", "webform": "WEB", "max": "MX"}
FLAG_TITLES = {"repeat_lead": "repeat lead", "repeat_inquiry": "repeat inquiry", "repeat_deal": "repeat deal"}
DEAL_KINDS = {
    "contact": "Deal + Contact (private person)",
    "contact_company": "Deal + Contact + Company (legal entity)",
    "deal_only": "Deal only (existing client)",
}


def e(value: object) -> str:
    return escape(str(value), quote=True)


def words(value: object) -> str:
    """Escaped text whose masked phones and e-mails never break across lines."""
    return MASKED_IN_TEXT.sub(lambda m: f'<span class="ident">{m.group(0)}</span>', e(value))


def badge(channel: str) -> str:
    return f'<span class="badge ch-{e(channel)}" title="{e(channel)}">{e(BADGE.get(channel, channel))}</span>'


def flags_html(item: dict[str, Any]) -> str:
    return "".join(f'<span class="flag {f}">{FLAG_TITLES[f]}</span>' for f in FLAGS if item.get(f))


def time_html(at: str | None, *, short: bool = False) -> str:
    """A date the script words in the browser's locale; `short` for a day and an hour ("5 Dec 14:02")."""
    if not at:
        return ""
    return f'<time datetime="{e(at)}"{" data-short" if short else ""}>{e(at[:16].replace("T", " "))}</time>'


def id_html(value: str, what: str) -> str:
    """A stored id, small and secondary, for whoever needs to copy it: one click selects it whole."""
    return f'<span class="id" title="{e(what)} id">{e(value)}</span>'


def layout(title: str, body: str, *, user: User | None = None, session: Session | None = None) -> web.Response:
    nav = ""
    if user is not None and session is not None:
        audit = '<a href="/inbox/audit">Audit log</a>' if user.role in (Role.SUPERVISOR, Role.ADMIN) else ""
        ops = '<a href="/ops/">Ops pages</a>' if user.role.value in OPS_ROLES else ""
        # The ops role sees no customers: its way from here is the ops pages.
        work = "" if user.role is Role.OPS else '<a href="/inbox/">Inbox</a><a href="/inbox/review">Review queue</a>'
        nav = (
            '<nav><a href="/inbox/" class="brand">Stitch</a>'
            f'{work}{audit}{ops}<span class="account"><span class="who">{e(user.name)} ·'
            f' {e(user.role)}</span><form method="post" action="/inbox/logout" class="inline">'
            f'<input type="hidden" name="csrf" value="{e(session.csrf)}"><button class="link">Log out</button></form>'
            "</span></nav>"
        )
    csrf = f'<meta name="csrf" content="{e(session.csrf)}">' if session else ""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · Stitch</title>{csrf}{ICON_LINK}"
        '<link rel="stylesheet" href="/inbox/static/inbox.css"><script src="/inbox/static/inbox.js" defer></script>'
        f"</head><body>{nav}<main>{body}</main></body></html>"
    )
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


async def _session(request: web.Request) -> tuple[User, Session]:
    found = await request.config_dict[AUTH].current(request)
    if found is None:
        raise web.HTTPSeeOther("/inbox/login?" + urlencode({"next": request.path_qs}))
    return found


def _denied(reason: str, user: User, session: Session) -> web.Response:
    response = layout(
        "Not allowed", f'<h1>Not allowed</h1><p class="error">{e(reason)}</p>', user=user, session=session
    )
    response.set_status(403)
    return response


# -- login -----------------------------------------------------------------------------------------
def _login_page(error: str = "", next_url: str = "/inbox/", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(16)
    body = (
        '<section class="login"><h1>Stitch inbox</h1>'
        + (f"<p class=error>{e(error)}</p>" if error else "")
        + '<form method="post" action="/inbox/login">'
        f'<input type="hidden" name="csrf" value="{token}"><input type="hidden" name="next" value="{e(next_url)}">'
        '<label>Name <input name="name" autocomplete="username" required autofocus></label>'
        '<label>Password <input name="password" type="password" autocomplete="current-password" required></label>'
        '<button type="submit">Log in</button></form></section>'
    )
    response = layout("Log in", body)
    response.set_status(status)
    # Double-submit: the form's token must equal this cookie, which another site cannot read or set.
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/inbox/login")
    return response


@routes.get("/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    return _login_page(next_url=request.query.get("next", "/inbox/"))


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    auth = request.config_dict[AUTH]
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    next_url = str(form.get("next", "/inbox/"))
    if not next_url.startswith(("/inbox/", "/ops/")):
        next_url = "/inbox/"  # never redirect off-site after login (the ops pages share this login)
    sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(sent, expected):
        return _login_page("The form expired; please try again.", next_url, 403)
    if auth.allow_attempt(request.remote or "", name):
        return _login_page("Too many attempts; wait a minute and try again.", next_url, 429)
    logged = await auth.login(name, password)
    if logged is None:
        return _login_page("Wrong name or password.", next_url, 401)
    response = web.HTTPSeeOther(next_url)
    auth.set_cookie(response, logged)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/inbox/login")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    user, session = await _session(request)
    form = await request.post()
    if not request.config_dict[AUTH].csrf_ok(session, str(form.get("csrf", ""))):
        return _denied("missing or wrong CSRF token", user, session)
    await request.config_dict[AUTH].logout(request)
    response = web.HTTPSeeOther("/inbox/login")
    response.del_cookie(COOKIE, path="/")
    raise response


# -- the list --------------------------------------------------------------------------------------
@routes.get("/")
async def person_list(request: web.Request) -> web.StreamResponse:
    user, session = await _session(request)
    if user.role is Role.OPS:
        raise web.HTTPSeeOther("/ops/")  # no customers for this role: `/` and the brand lead to its pages
    service = request.config_dict[SERVICE]
    q, flag = request.query.get("q", ""), request.query.get("flag", "")
    try:
        page_no = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page_no = 1
    try:
        page = await service.persons(user, q=q, flag=flag if flag in FLAGS else "", page=page_no)
    except Forbidden as err:
        return _denied(err.reason, user, session)
    rows = []
    for r in page.rows:
        timer = ""
        if r["response_due"]:
            timer = (
                f'<span class="timer{" overdue" if r["overdue"] else ""}" data-due="{e(r["response_due"])}">'
                f"{'overdue' if r['overdue'] else 'due'}</span>"
            )
        count = f" <span class=count>{r['unread']}</span>" if r["unread"] else ""
        rows.append(
            f'<tr class="{"unread" if r["unread"] else ""}" data-person="{e(r["person_id"])}">'
            f'<td><a href="/inbox/persons/{e(r["person_id"])}">{e(r["name"])}</a>'
            f"{count}</td>"
            f"<td>{''.join(badge(c) for c in r['channels'])}</td>"
            f"<td>{e(r['responsible']) or '<span class=muted>unassigned</span>'}</td>"
            f"<td>{flags_html(r)}</td><td>{timer}</td><td>{time_html(r['last_at'])}</td></tr>"
        )
    filters = " ".join(
        f'<a class="filter{" on" if flag == f else ""}" href="?{urlencode({"q": q, "flag": f})}">{FLAG_TITLES[f]}</a>'
        for f in FLAGS
    )
    nav = []
    if page.page > 1:
        nav.append(f'<a href="?{urlencode({"q": q, "flag": flag, "page": page.page - 1})}">← newer</a>')
    if page.has_next:
        nav.append(f'<a href="?{urlencode({"q": q, "flag": flag, "page": page.page + 1})}">older →</a>')
    body = (
        '<h1>Inbox</h1><form class="search" method="get" action="/inbox/">'
        # Short enough to show whole beside the button on a phone; the tooltip says it in full.
        f'<input name="q" value="{e(q)}" placeholder="Name, phone, e-mail, @handle or id"'
        ' title="Search by name, phone, e-mail, @handle or person id">'
        f'<input type="hidden" name="flag" value="{e(flag)}"><button>Search</button></form>'
        f'<p class="filters">Show: <a class="filter{"" if flag else " on"}" href="?{urlencode({"q": q})}">all</a> {filters}</p>'
        '<table class="persons" data-live="/inbox/stream"><thead><tr><th>Person</th><th>Channels</th><th>Responsible</th>'
        "<th>Flags</th><th>First response</th><th>Last message</th></tr></thead><tbody>"
        + ("".join(rows) or '<tr><td colspan="6" class="muted">Nobody here.</td></tr>')
        + f'</tbody></table><p class="pager">Page {page.page} {" ".join(nav)}</p>'
    )
    return layout("Inbox", body, user=user, session=session)


# -- one person ------------------------------------------------------------------------------------
def timeline_html(items: list[dict[str, Any]]) -> str:
    out = []
    for m in items:
        status = ""
        if m["direction"] == "out":
            status = f'<span class="status st-{e(m.get("status", ""))}">{e(m.get("status", ""))}</span>'
            if m.get("error"):
                status += f' <span class="error">{e(m["error"])}</span>'
        who = e(m.get("author") or "")
        out.append(
            f'<div class="msg {e(m["direction"])}" data-id="{e(m["id"])}">'
            f'<div class="meta">{badge(m["channel"])} {who} {time_html(m["at"])} {status}</div>'
            f'<div class="text">{e(m["text"]) or "<span class=muted>(no text: a contact, photo or sticker)</span>"}</div></div>'
        )
    return "".join(out) or '<p class="muted">No messages yet.</p>'


def _reply_box(person: dict[str, Any]) -> str:
    options = []
    notes = []
    for c in person["reply_channels"]:
        attrs = (" selected" if c["default"] else "") + ("" if c["available"] else " disabled")
        label = c["title"] + ("" if c["available"] else " — unavailable")
        options.append(f'<option value="{e(c["channel"])}"{attrs}>{e(label)}</option>')
        if c["channel"] == "whatsapp":
            state = "open" if c.get("window_open") else "closed"
            notes.append(
                f'<p class="window {state}">WhatsApp 24-hour window {state}'
                f"{' until ' + time_html(c['window_closes_at']) if c.get('window_open') else ''}</p>"
            )
        if not c["available"]:
            title = c["title"][:1].upper() + c["title"][1:]
            notes.append(f'<p class="muted small">{e(title)}: {e(c["reason"])}.</p>')
    disabled = "" if any(c["available"] for c in person["reply_channels"]) else " disabled"
    return (
        f'<form class="reply" data-api="/api/persons/{e(person["person_id"])}/reply" data-after="timeline">'
        f'<textarea name="text" rows="3" placeholder="Write a reply" required{disabled}></textarea>'
        f'<div class="row"><select name="channel">{"".join(options)}</select>'
        f'<button type="submit"{disabled}>Send</button><span class="error"></span></div>{"".join(notes)}</form>'
    )


def _where(lead: dict[str, Any]) -> str:
    # "on Telegram", but "in the web form", as the explanations say it.
    return f"{'in' if lead['channel'] == 'webform' else 'on'} {e(lead['channel_title'])}"


def _lead_panel(person: dict[str, Any]) -> str:
    parts = ['<section class="panel"><h2>Leads</h2>']
    reasons = "".join(f'<option value="{e(r)}">{e(r)}</option>' for r in person["junk_reasons"])
    for lead in reversed(person["leads"]):
        flag = '<span class="flag repeat_lead">repeat lead</span>' if lead["repeat_lead"] else ""
        junk = " — " + e(lead["junk_reason"]) if lead["junk_reason"] else ""
        # Named as the manager met it, the channel and the day; the id is there to copy, not to read.
        head = (
            f'<div class="lead" data-lead="{e(lead["lead_id"])}"><p><b class="title">Inquiry {_where(lead)},'
            f" {time_html(lead['created_at'], short=True)}</b> "
            f'<span class="stage st-{e(lead["status"])}">{e(lead["status"].replace("_", " "))}</span> {flag}'
            f"{junk}<br>{id_html(lead['lead_id'], 'Lead')}</p>"
        )
        parts.append(head)
        if lead["open"]:
            stages = "".join(
                f'<option value="{s.value}"{" selected" if s.value == lead["status"] else ""}>'
                f"{s.value.replace('_', ' ')}</option>"
                for s in STAGES
            )
            lid = e(lead["lead_id"])
            parts.append(
                f'<form class="stage" data-api="/api/leads/{lid}/stage"><select name="status">{stages}</select>'
                '<button>Set stage</button><span class="error"></span></form>'
                f'<form class="junk" data-api="/api/leads/{lid}/stage"><input type="hidden" name="status" value="junk">'
                f'<select name="junk_reason">{reasons}</select><button class="warn">Junk</button>'
                '<span class="error"></span></form>'
                f'<details class="convert"><summary>Convert…</summary><form data-api="/api/leads/{lid}/convert">'
                + "".join(
                    f'<label class="radio"><input type="radio" name="kind" value="{k}"{" checked" if k == "contact" else ""}>'
                    f"{e(t)}</label>"
                    for k, t in DEAL_KINDS.items()
                )
                + f'<label>Deal title <input name="title" value="{e(person["name"])}"></label>'
                '<label>Amount <input name="amount" type="number" min="0" step="any"></label>'
                f'<label>Contact name <input name="contact_name" value="{e(person["name"])}"></label>'
                '<label>Contact phone <input name="contact_phone"></label>'
                '<label>Contact e-mail <input name="contact_email"></label>'
                '<label>Company <input name="company_name"></label><label>Tax id (INN) <input name="company_tax_id"></label>'
                '<button type="submit">Convert</button><div class="error"></div></form></details>'
            )
        parts.append("</div>")
    for d in person["deals"]:
        flags = flags_html(d)
        close = ""
        if d["status"] == "open":
            did = e(d["deal_id"])
            close = (
                f'<form class="inline" data-api="/api/deals/{did}/close"><input type="hidden" name="status" value="won">'
                "<button>Won</button></form>"
                f'<form class="inline" data-api="/api/deals/{did}/close"><input type="hidden" name="status" value="lost">'
                '<button class="warn">Lost</button></form>'
            )
        parts.append(
            f'<div class="deal" data-deal="{e(d["deal_id"])}"><b>Deal {e(d["title"])}</b> '
            f'<span class="stage">{e(d["status"])}</span> {flags}<br><span class="muted small">'
            f"{e(DEAL_KINDS[d['kind']])}{', ' + e(d['company_name']) if d['company_name'] else ''}</span> {close}</div>"
        )
    parts.append("</section>")
    return "".join(parts)


def strength_html(item: dict[str, Any]) -> str:
    """The strength of a link as a word and a bar of four, its match probability in the tooltip."""
    bars = "".join(f'<i class="{"on" if n < item["bars"] else ""}"></i>' for n in range(4))
    return (
        f'<span class="strength s-{e(item["strength"].replace(" ", "-"))}" title="{e(item["likelihood"])}">'
        f'<span class="bar">{bars}</span>{e(item["strength"])}</span>'
    )


def _identity_panel(person: dict[str, Any], evidence: list[dict[str, Any]]) -> str:
    pid = e(person["person_id"])
    why = "".join(f"<li>{strength_html(line)} {words(line['text'])}</li>" for line in evidence) or (
        '<li class="muted">One channel only.</li>'
    )
    profiles = "".join(
        f"<li>{badge(p['channel'])} {words(p['name'] or p['handle'] or p['key'])}"
        f"{' <span class=muted>@' + e(p['handle']) + '</span>' if p['handle'] else ''}"
        f"{' <span class=error>unreachable</span>' if p['unreachable'] else ''}"
        f'<br><span class="muted small">{words(", ".join(p["identifiers"]))}</span></li>'
        for p in person["profiles"]
    )
    merges = []
    for m in person["merges"]:
        action = ""
        if m["undone_by"]:
            action = '<span class="muted">split</span>'
        elif person["may_merge"]:
            action = (
                f'<form class="inline" data-api="/api/merges/{e(m["merge_id"])}/split" data-confirm="Split this merge?">'
                '<button class="warn">Split</button></form>'
            )
        how = "merged automatically" if m["kind"] == "auto" else f"merged by {e(m['actor'])}"
        merges.append(
            f'<li data-merge="{e(m["merge_id"])}">{time_html(m["at"])} {how}: {words(m["why"] or "—")} {action}</li>'
        )
    manage = (
        f'<form data-api="/api/persons/{pid}/reveal" data-after="reveal">'
        '<button>Show contact details</button> <span class="revealed"></span><span class="error"></span></form>'
        f'<form class="row" data-api="/api/persons/{pid}/identifiers"><select name="kind">'
        '<option value="phone">phone</option><option value="email">e-mail</option></select>'
        '<input name="value" placeholder="+7 912 …"><button>Add</button><span class="error"></span></form>'
    )
    if person["may_merge"]:
        # A placeholder short enough to show whole in the side column; the longer hint is the tooltip.
        manage += (
            f'<form class="row" data-api="/api/persons/{pid}/link" data-confirm="Merge this person into the other one?">'
            '<input name="existing" placeholder="other person\'s id"'
            ' title="The id of the person to link to: search the inbox for them, it is on their page">'
            '<button>Link to existing</button><span class="error"></span></form>'
        )
    return (
        f'<section class="panel why"><h2>Why is this one person?</h2><ul class="evidence">{why}</ul></section>'
        f'<section class="panel"><h2>Channels</h2><ul class="profiles">{profiles}</ul>{manage}</section>'
        f'<section class="panel"><h2>Merge history</h2><ul class="merges">{"".join(merges) or "<li class=muted>none</li>"}</ul></section>'
    )


@routes.get("/persons/{person_id}")
async def person_page(request: web.Request) -> web.StreamResponse:
    user, session = await _session(request)
    service = request.config_dict[SERVICE]
    pid = request.match_info["person_id"]
    try:
        person = await service.person(user, pid)
        timeline = await service.timeline(user, pid)
        evidence = await service.evidence(user, pid)
        await service.read(user, pid)
    except Forbidden as err:
        return _denied(err.reason, user, session)
    except NotFound:
        raise web.HTTPNotFound(text="no such person") from None
    except Erased:
        return _erased_page(await service.erased(user, pid), user, session)
    if person["person_id"] != pid:
        raise web.HTTPFound(f"/inbox/persons/{person['person_id']}")
    row = person["row"] or {}
    flags = flags_html(row)
    suggestions = "".join(
        f'<li><a href="/inbox/review#{e(s["suggestion_id"])}">{e(s["a"]["name"])} ↔ {e(s["b"]["name"])}</a>: {e(s["likelihood"])}; {words(s["why"])}</li>'
        for s in person["suggestions"]
    )
    body = (
        f'<header class="person"><h1>{e(person["name"])}</h1>'
        f"<p>{''.join(badge(p['channel']) for p in person['profiles'])} {flags} "
        f'<span class="muted">responsible: {e(person["responsible"] or "unassigned")}</span>'
        f" {id_html(person['person_id'], 'Person')}</p></header>"
        '<div class="columns"><div class="main">'
        f'<div id="timeline" class="timeline" data-src="/inbox/persons/{e(person["person_id"])}/timeline"'
        f' data-live="/inbox/persons/{e(person["person_id"])}/stream">{timeline_html(timeline)}</div>'
        f"{_reply_box(person)}</div>"
        f"<aside>{_identity_panel(person, evidence)}{_lead_panel(person)}"
        f"{'<section class=panel><h2>Suggested matches</h2><ul>' + suggestions + '</ul></section>' if suggestions else ''}"
        f"{_personal_data_panel(person)}</aside></div>"
    )
    return layout(person["name"], body, user=user, session=session)


def _personal_data_panel(person: dict[str, Any]) -> str:
    if not person["may_erase"]:
        return ""
    pid = e(person["person_id"])
    return (
        '<section class="panel personal"><h2>Personal data</h2>'
        f'<p><a href="/api/persons/{pid}/export" download>Export everything (JSON)</a></p>'
        f'<form data-api="/api/persons/{pid}/forget" data-confirm="Erase everything Stitch holds about this person?'
        ' Texts, names, identifiers and raw events are gone for good; their merges can no longer be split.">'
        f'<input type="hidden" name="confirm" value="{pid}"><button class="warn">Erase this person</button>'
        '<span class="error"></span></form></section>'
    )


def _erased_page(info: dict[str, Any], user: User, session: Session) -> web.Response:
    merges = "".join(
        f"<li>{time_html(m['at'])} {e(m['kind'])} by {e(m['actor'])}"
        f"{' <span class=muted>(split)</span>' if m['undone_by'] else ''}</li>"
        for m in info["merges"]
    )
    body = (
        f'<h1>Erased person</h1><p class="erased">The data of {e(info["person_id"])} was erased'
        f" {time_html(info['erased_at'])} by {e(info['erased_by'])}. Nothing of their messages, names or"
        " identifiers is kept.</p>"
        + (
            f'<section class="panel"><h2>Merge history</h2><p class="muted">These merges can no longer be split:'
            f' the erasure removed what a split would hand back.</p><ul class="merges">{merges}</ul></section>'
            if merges
            else ""
        )
    )
    response = layout("Erased person", body, user=user, session=session)
    response.set_status(410)
    return response


@routes.get("/persons/{person_id}/timeline")
async def timeline_fragment(request: web.Request) -> web.StreamResponse:
    user, _ = await _session(request)
    try:
        items = await request.config_dict[SERVICE].timeline(user, request.match_info["person_id"])
    except Forbidden as err:
        raise web.HTTPForbidden(text=err.reason) from None
    return web.Response(text=timeline_html(items), content_type="text/html", headers={"Cache-Control": "no-store"})


async def _stream(request: web.Request, person_id: str | None) -> web.StreamResponse:
    user, _ = await _session(request)
    service = request.config_dict[SERVICE]
    broker = request.config_dict[BROKER]
    root = None
    if person_id is not None:
        try:
            root = await service._visible_root(user, person_id, "follow person")
        except Forbidden as err:
            raise web.HTTPForbidden(text=err.reason) from None
    async with sse_response(request) as sse:
        await feed(broker, sse, lambda event: root is None or root in (event.person_id, event.detail))
    return sse


@routes.get("/persons/{person_id}/stream")
async def person_stream(request: web.Request) -> web.StreamResponse:
    return await _stream(request, request.match_info["person_id"])


@routes.get("/stream")
async def list_stream(request: web.Request) -> web.StreamResponse:
    return await _stream(request, None)


# -- review queue and audit log --------------------------------------------------------------------
def _side_html(side: dict[str, Any], suggestion_id: str, checked: bool) -> str:
    profiles = "".join(
        f'<li>{badge(p["channel"])} {words(p["name"] or p["key"])}<br><span class="muted small">{words(", ".join(p["identifiers"]))}</span></li>'
        for p in side["profiles"]
    )
    return (
        f'<div class="side"><label class="radio"><input type="radio" name="primary" value="{e(side["person_id"])}"'
        f"{' checked' if checked else ''}> keep as primary</label>"
        f'<h3><a href="/inbox/persons/{e(side["person_id"])}">{e(side["name"])}</a></h3>'
        f'<p class="muted small">{e(side["responsible"] or "unassigned")} {id_html(side["person_id"], "Person")}</p>'
        f"<ul>{profiles}</ul></div>"
    )


@routes.get("/review")
async def review_page(request: web.Request) -> web.StreamResponse:
    user, session = await _session(request)
    service = request.config_dict[SERVICE]
    try:
        suggestions = await service.review(user)
    except Forbidden as err:
        return _denied(err.reason, user, session)
    may = user.role in service.merge_roles
    cards = []
    for s in suggestions:
        sid = e(s["suggestion_id"])
        buttons = (
            '<button type="submit">Merge</button>'
            f'<button type="button" class="warn" data-post="/api/review/{sid}/reject">Not the same person</button>'
            if may
            else '<span class="muted">Only reviewers may merge.</span>'
        )
        cards.append(
            f'<form class="suggestion" id="{sid}" data-api="/api/review/{sid}/accept">'
            f'<p class="why"><b class="likelihood">{e(s["likelihood"])}</b> {strength_html(s)}<br>{words(s["why"])}</p>'
            '<div class="pair">'
            f"{_side_html(s['a'], s['suggestion_id'], True)}{_side_html(s['b'], s['suggestion_id'], False)}</div>"
            f'<div class="row">{buttons}<span class="error"></span></div></form>'
        )
    body = "<h1>Review queue</h1>" + ("".join(cards) or '<p class="muted">Nothing to review.</p>')
    return layout("Review queue", body, user=user, session=session)


@routes.get("/audit")
async def audit_page(request: web.Request) -> web.StreamResponse:
    user, session = await _session(request)
    try:
        entries = await request.config_dict[SERVICE].audit(user, request.query.get("person", ""), 300)
    except Forbidden as err:
        return _denied(err.reason, user, session)
    person = request.query.get("person", "")
    items = "".join(
        f'<li data-action="{e(a["action"])}" title="{e(_audit_ids(a))}">{_audit_sentence(a["parts"])}'
        f' <span class="muted">— {time_html(a["at"])}</span></li>'
        for a in entries
    )
    scope = f' of <a href="/inbox/persons/{e(person)}">{e(person)}</a>' if person else ""
    body = f"<h1>Audit log{scope}</h1>" + (
        f'<ol class="audit">{items}</ol>' if items else '<p class="muted">Nothing recorded yet.</p>'
    )
    return layout("Audit log", body, user=user, session=session)


def _audit_sentence(parts: list[dict[str, str]]) -> str:
    return "".join(
        f'<a href="/inbox/persons/{e(p["person"])}" title="{e(p["person"])}">{e(p["text"])}</a>'
        if p.get("person")
        else words(p["text"])
        for p in parts
    )


def _audit_ids(entry: dict[str, Any]) -> str:
    """The stored ids and words behind a sentence, for the tooltip."""
    ids = [entry["action"], entry["person_id"], entry["target"], entry["detail"]]
    return " · ".join(i for i in ids if i)


def inbox_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    app.router.add_static("/static", STATIC, append_version=False)
    return app
