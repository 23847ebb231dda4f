"""The ops sub-app (mounted at /ops): identity graphs, explanations, merges and splits, shared identifiers,
person sizes and their alarm, the review backlog, parked events (with a retry button), dead letters and
failed replies.

Server-rendered HTML and SVG, no script. Handlers read the root app's state through
`request.config_dict`; every route but the login form passes the access hook first.

Phones and e-mails are masked here as in the inbox (app/masking.py), profile keys and graph labels
included; an admin may show a person's page unmasked through the inbox's audited reveal.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlencode

from aiohttp import web

from app.inbox.explain import Bands, Line, Strength, likelihood, percent, suggestion_probability
from app.inbox.keys import INDEX, SERVICE
from app.inbox.pages import ICON_LINK
from app.keys import PIPELINE, SETTINGS, STORE
from app.masking import KeyShown, ProfileRefs, as_is, is_ref, mask_key, mask_text
from app.ops.access import COOKIE, LoginOrToken, OpsAccess, OpsUser, TokenOrLoopback, csrf_ok, inbox_login
from app.ops.reports import (
    FAILURES_LISTED,
    GENERIC_RULE,
    LargePerson,
    explain,
    generic_examples,
    recent_merges,
    review_backlog,
    shared_report,
    side_of,
    size_report,
)
from app.ops.svg import render_graph
from app.ops.words import STRENGTH_CSS, edge_line, strength_html
from app.parked import retry_parked
from app.probes import PROBES
from app.retention import last_sweep
from core.errors import Erased, Forbidden, MergeRefused, NotFound
from core.inbox import AuditEntry
from core.records import MergeKind, MergeRecord, ParkedEvent
from resolver.graph import person_graph
from resolver.merge import Merger
from store.base import BaseStore

OPS_ACCESS: web.AppKey[OpsAccess] = web.AppKey("ops_access")
OPS_DEFAULT = web.AppKey("ops_default_access", TokenOrLoopback)
OPS_USER = web.RequestKey("ops_user", OpsUser)

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSS = (
    """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f5f8}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;flex-wrap:wrap;gap:4px 14px;align-items:baseline}
header a{color:#cfd8ff;text-decoration:none;white-space:nowrap}header b{margin-right:6px}
main{padding:16px 20px;max-width:1200px}h1{font-size:20px;overflow-wrap:anywhere}h2{font-size:16px;margin-top:22px}
.scroll{overflow-x:auto;max-width:100%}select,input{max-width:100%}p,li{overflow-wrap:anywhere}
table{border-collapse:collapse;background:#fff;width:100%}td,th{border:1px solid #dde;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f5}.alarm{background:#fdecea;border:1px solid #c0392b;color:#922;padding:8px 12px;margin:10px 0}
.ok{color:#1f7a3a}.muted{color:#778}.bar{background:#2aabee;height:12px;display:inline-block}
.row-alarm td{background:#fdecea}ol.steps li{margin:6px 0}code{background:#eef0f5;padding:1px 4px}
form.inline{display:inline}button{cursor:pointer}.card{background:#fff;border:1px solid #dde;padding:10px 14px;margin:8px 0}
#graph svg{display:block;margin:0 auto;max-width:100%;height:auto}.revealed{background:#fff7e0;border:1px solid #e0b84f;padding:8px 12px}
.when,td>code,td>a{white-space:nowrap}.words{display:block;min-width:14em}
@media (max-width:640px){main{padding:12px}header{padding:8px 12px}td,th{padding:3px 6px}
.scroll table{min-width:calc(var(--columns) * 6.5em)}#graph svg{max-width:none;width:720px}}
"""
    + STRENGTH_CSS
)


def _page(title: str, body: str, *, status: int = 200) -> web.Response:
    nav = "".join(
        f'<a href="/ops/{href}">{label}</a>'
        for href, label in (
            ("", "Overview"),
            ("sizes", "Person sizes"),
            ("merges", "Merges"),
            ("shared", "Shared identifiers"),
            ("review", "Review queue"),
            ("failures", "Parked events & failures"),
        )
    )
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Stitch ops</title>{ICON_LINK}"
        f"<style>{CSS}</style></head><body><header><b>Stitch ops</b>{nav}</header>"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    # no-store: a revealed page must not outlive the visit in a cache.
    return web.Response(text=html, content_type="text/html", status=status, headers={"Cache-Control": "no-store"})


def _when(at: datetime | float | None) -> str:
    if at is None:
        return "—"
    if isinstance(at, int | float):
        at = datetime.fromtimestamp(at, tz=UTC)
    return f'<span class="when">{at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}</span>'


def _person_link(person_id: str) -> str:
    return f'<a href="/ops/persons/{quote(person_id)}">{escape(person_id)}</a>'


def _table(head: Iterable[str], rows: Iterable[Iterable[str]], *, row_class: Iterable[str] = ()) -> str:
    titles, classes = list(head), list(row_class)
    cells = "".join(
        f'<tr class="{classes[i] if i < len(classes) else ""}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    head_row = "".join(f"<th>{escape(h)}</th>" for h in titles)
    # On a phone the table keeps room for its columns and scrolls sideways in its box.
    return f'<div class="scroll"><table style="--columns:{len(titles)}"><tr>{head_row}</tr>{cells}</table></div>'


def _words(html: str) -> str:
    """A cell of running text: on a phone it keeps a readable width and the table scrolls instead."""
    return f'<span class="words">{html}</span>'


def _user(request: web.Request) -> OpsUser:
    return request[OPS_USER]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.handler is login:
        return await handler(request)
    user = await request.app[OPS_ACCESS](request)
    if user is None:
        if request.method == "GET" and request.app[OPS_DEFAULT].token:
            raise web.HTTPSeeOther("/ops/login")
        login_url = await inbox_login(request) if request.method == "GET" else None
        if login_url is not None:
            raise web.HTTPSeeOther(login_url)
        return _page(
            "Not allowed",
            "<p>The ops pages need an operator: the ops token (STITCH_OPS_TOKEN), or a login at"
            ' <a href="/inbox/login?next=/ops/">/inbox/login</a> with the ops or admin role.</p>',
            status=403,
        )
    request[OPS_USER] = user
    try:
        return await handler(request)
    except NotFound as e:
        return _page("Not found", f"<p>{escape(str(e))}</p>", status=404)
    except MergeRefused as e:
        return _page("Refused", f"<p>{escape(e.reason)}</p>", status=409)
    except Forbidden as e:
        return _page("Not allowed", f"<p>{escape(e.reason)}</p>", status=403)
    except Erased as e:
        return _page("Erased", f"<p>{escape(str(e))}</p>", status=410)


# -- login (only with STITCH_OPS_TOKEN) -------------------------------------------------------------
_LOGIN_FORM = (
    '<form method="post" action="/ops/login"><label>Ops token <input type="password" name="token"></label>'
    " <button>Sign in</button></form>"
)


@routes.get("/login")
@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    hook = request.app[OPS_DEFAULT]
    if request.method == "POST":
        form = await request.post()
        given = str(form.get("token", ""))
        if hook.token_matches(given):
            response = web.HTTPSeeOther("/ops/")
            response.set_cookie(COOKIE, given, httponly=True, samesite="Strict", path="/ops")
            raise response
        return _page("Sign in", "<p>Wrong token.</p>" + _LOGIN_FORM, status=403)
    return _page("Sign in", _LOGIN_FORM)


# -- overview ---------------------------------------------------------------------------------------
@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    store, settings = request.config_dict[STORE], request.config_dict[SETTINGS]
    counts = await store.counts()
    events = await store.event_counts()
    sizes = await size_report(store, settings, limit=5)
    backlog = await review_backlog(store, limit=0)
    probes = request.config_dict[PROBES]
    body = _alarm(sizes.alarmed, sizes.alarm_size)
    body += (
        '<form method="get" action="/ops/find" class="card">Person id or profile key '
        '<input name="q" size="32" placeholder="p_… or telegram:…"> <button>Open graph</button></form>'
    )
    body += _table(
        ["figure", "value"],
        [
            ["persons", str(counts.get("persons", 0))],
            ["profiles", str(counts.get("profiles", 0))],
            ["merges in force", str(counts.get("merges", 0))],
            ["review queue (pending suggestions)", f'<a href="/ops/review">{backlog.pending}</a>'],
            ["oldest pending suggestion", _when(backlog.oldest)],
            ["largest person (profiles)", str(sizes.largest[0].profiles if sizes.largest else 0)],
            ["alarm size (profiles)", str(sizes.alarm_size)],
            ["events by status", escape(", ".join(f"{k}: {v}" for k, v in sorted(events.items())) or "none")],
            ["events waiting to be resolved", str(await probes.backlog())],
            ["queue lag (Redis stream)", f"{await probes.queue_lag():g}"],
            ["retention", await _retention_line(store, settings.retention_days)],
        ],
    )
    return _page("Overview", body)


async def _retention_line(store: BaseStore, days: int) -> str:
    swept = await last_sweep(store)
    policy = f"texts kept {days} days" if days else "off (STITCH_RETENTION_DAYS unset): texts kept"
    if swept is None:
        return f"{policy}; no sweep yet"
    erased = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in swept.erased.items())
    return f"{policy}; last sweep {_when(swept.at)}: {escape(erased)} erased"


def _alarm(alarmed: Iterable[LargePerson], size: int) -> str:
    persons = list(alarmed)
    if not persons:
        return f'<p class="ok">No person is larger than {size} profiles.</p>'
    links = ", ".join(f"{_person_link(p.person_id)} ({p.profiles} profiles)" for p in persons)
    return (
        f'<div class="alarm" role="alert"><b>Alarm:</b> {len(persons)} person(s) larger than {size} profiles '
        f"— a likely over-merge (an office phone, a family e-mail): {links}</div>"
    )


@routes.get("/find")
async def find(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    side = await side_of(request.config_dict[STORE], q)
    raise web.HTTPSeeOther(f"/ops/persons/{quote(side.person_id)}")


# -- a person's graph -------------------------------------------------------------------------------
@routes.get("/persons/{person_id}")
async def person(request: web.Request) -> web.Response:
    return await _person_page(request, request.match_info["person_id"], shown=mask_key)


@routes.post("/persons/{person_id}/reveal")
async def person_revealed(request: web.Request) -> web.Response:
    """The person's page unmasked, for an admin: the inbox's reveal, so it is checked and audited alike."""
    user = _user(request)
    form = await request.post()
    if not csrf_ok(user, str(form.get("csrf", ""))):
        return _page("Refused", "<p>This form is stale (or not ours): reload the page and try again.</p>", status=403)
    service = request.config_dict.get(SERVICE)
    if not user.may_reveal or user.user is None or service is None:
        return _page("Not allowed", "<p>Only an admin may show contact details unmasked.</p>", status=403)
    await service.reveal(user.user, request.match_info["person_id"])
    return await _person_page(request, request.match_info["person_id"], shown=as_is)


async def _person_page(request: web.Request, person_id: str, *, shown: KeyShown) -> web.Response:
    store, settings = request.config_dict[STORE], request.config_dict[SETTINGS]
    user = _user(request)
    root = await store.root_of(person_id)
    graph = await person_graph(store, root)
    found = await store.get_person(root)
    profiles = await store.profiles_of(root)
    svg = render_graph(graph, bands=Bands.of(settings.resolver), shown=shown)
    # The explain form names profiles by opaque references: a key would put the number in the page.
    refs = await ProfileRefs(request.config_dict[STORE]).refs(p.key for p in profiles)
    options = [(refs[p.key], escape(shown(p.key))) for p in profiles]
    first = "".join(f'<option value="{ref}">{label}</option>' for ref, label in options)
    second = "".join(
        f'<option value="{ref}"{" selected" if i == 1 else ""}>{label}</option>'
        for i, (ref, label) in enumerate(options)
    )
    body = f"<p>{_person_link(root)} · {escape(found.display_name if found else '')} · {len(profiles)} profiles"
    if root != person_id:
        body += f" (the id {escape(person_id)} was merged into it)"
    body += "</p>"
    body += _contact_note(root, user, revealed=shown is as_is)
    if len(profiles) > settings.alarm_profiles:
        big = LargePerson(person_id=root, display_name="", profiles=len(profiles), alarmed=True)
        body += _alarm([big], settings.alarm_profiles)
    body += (
        '<form method="get" action="/ops/explain" class="card">Explain the path of evidence between '
        f'<input type="hidden" name="person" value="{escape(root)}">'
        f'<select name="a">{first}</select> and <select name="b">{second}</select> <button>Explain</button></form>'
    )
    body += f'<div class="card scroll" id="graph">{svg}</div>'
    body += '<p class="muted">Circles: channel profiles (colour = channel). Boxes: identifiers (red, dashed: shared).'
    body += (
        " Dashed lines: evidence, labelled with how strong it is and why (green: strong enough to merge on its own;"
        " the match probability in the label's tooltip). Thin: has-identifier.</p>"
    )
    body += "<h2>Profiles</h2>" + _table(
        ["profile", "channel", "name", "first seen", "last seen"],
        [
            [escape(shown(p.key)), p.channel.value, escape(p.name), _when(p.first_seen), _when(p.last_seen)]
            for p in profiles
        ],
    )
    members = set(await store.members_of(root))
    merges = [m for m in await store.merges(limit=500) if m.into in members or m.from_ in members]
    erased = await _erased(store, merges)
    body += "<h2>Merges and splits</h2>" + _merge_table(merges, user, erased)
    return _page(f"Person {root}", body)


def _contact_note(root: str, user: OpsUser, *, revealed: bool) -> str:
    if revealed:
        return (
            '<p class="revealed">Contact details shown unmasked at your request; the audit log records it.'
            f' <a href="/ops/persons/{quote(root)}">Mask them again</a></p>'
        )
    if not user.may_reveal:
        return '<p class="muted">Phones and e-mails are masked; an admin can show them (audited).</p>'
    return (
        f'<form method="post" action="/ops/persons/{quote(root)}/reveal" class="inline">'
        f'<input type="hidden" name="csrf" value="{escape(user.csrf)}">'
        '<button>Show contact details</button> <span class="muted">(recorded in the audit log)</span></form>'
    )


@routes.get("/persons/{person_id}/graph.svg")
async def person_svg(request: web.Request) -> web.Response:
    store, settings = request.config_dict[STORE], request.config_dict[SETTINGS]
    graph = await person_graph(store, request.match_info["person_id"])
    return web.Response(
        text=render_graph(graph, bands=Bands.of(settings.resolver), shown=mask_key),
        content_type="image/svg+xml",
    )


# -- explanation ------------------------------------------------------------------------------------
async def _profile_of(request: web.Request, ref: str, person_id: str) -> str:
    """A profile reference from the person page's form, as its key; anything else as typed."""
    if not is_ref(ref):
        return ref
    store = request.config_dict[STORE]
    if not person_id or await store.get_person(person_id) is None:
        raise NotFound("person", person_id)
    keys = [p.key for p in await store.profiles_of(await store.root_of(person_id))]
    key = await ProfileRefs(request.config_dict[STORE]).resolve(ref, keys)
    if key is None:  # the profile left the person since the page was drawn (a split)
        raise NotFound("profile of the person", ref)
    return key


@routes.get("/explain")
async def explanation(request: web.Request) -> web.Response:
    store, settings = request.config_dict[STORE], request.config_dict[SETTINGS]
    a, b = request.query.get("a", ""), request.query.get("b", "")
    if not a or not b:
        return _page("Explain", "<p>Give two profile keys or person ids: <code>?a=…&amp;b=…</code></p>", status=400)
    person_id = request.query.get("person", "")
    a, b = await _profile_of(request, a, person_id), await _profile_of(request, b, person_id)
    found = await explain(store, a, b)
    shown, bands = mask_key, Bands.of(settings.resolver)
    if not found.connected:
        body = (
            f"<p>No path of evidence joins {escape(shown(a))} and {escape(shown(b))}:"
            " they are separate people to Stitch.</p>"
        )
    else:
        items = "".join(
            f"<li><code>{escape(shown(s.a))}</code> → <code>{escape(shown(s.b))}</code>: "
            + (
                f"shares {escape(shown(s.b if found.graph.nodes[s.b].get('kind') == 'identifier' else s.a))}"
                if s.kind == "identifier"
                else _step_words(edge_line(found.graph, s.a, s.b, bands))
            )
            + "</li>"
            for s in found.steps
        )
        body = (
            f"<p>From <code>{escape(shown(found.a_key))}</code> (person {_person_link(found.a.person_id)}) to "
            f"<code>{escape(shown(found.b_key))}</code> (person {_person_link(found.b.person_id)}), "
            f"{len(found.steps)} step(s):</p><ol class='steps' id='steps'>{items}</ol>"
        )
    path_edges = [(s.a, s.b) for s in found.steps]
    svg = render_graph(found.graph, highlight=path_edges, bands=bands, shown=shown)
    body += f'<div class="card scroll" id="graph">{svg}</div><p class="muted">The path is drawn in blue.</p>'
    return _page("Path of evidence", body)


def _step_words(line: Line) -> str:
    """An evidence step as a manager reads it; the weights in bits are `stitch graph explain`'s."""
    return (
        f"{strength_html(line)} {escape(line.text)} <span class='muted'>({escape(likelihood(line.probability))})</span>"
    )


# -- merges and splits ------------------------------------------------------------------------------
async def _erased(store: BaseStore, merges: Iterable[MergeRecord]) -> set[str]:
    """Merges of erased persons: they can no longer be split."""
    return {m.merge_id for m in merges if m.kind is not MergeKind.SPLIT and await store.forgotten(m.into)}


def _merge_table(merges: Iterable[MergeRecord], user: OpsUser, erased: set[str]) -> str:
    rows, classes = [], []
    for m in merges:
        if m.merge_id in erased:
            state = "person erased: can no longer be split"
            action = ""
        elif m.kind is MergeKind.SPLIT:
            state = f"undoes {escape(m.undoes or '')}"
            action = ""
        elif m.undone_by:
            state = f"split by {escape(m.undone_by)}"
            action = ""
        else:
            state = "in force"
            action = (
                f'<form class="inline" method="post" action="/ops/merges/{quote(m.merge_id)}/split">'
                f'<input type="hidden" name="csrf" value="{escape(user.csrf)}">'
                f'<button data-merge="{escape(m.merge_id)}">Split</button></form>'
            )
        explain_link = f'<a href="/ops/explain?{urlencode({"a": m.into, "b": m.from_})}">explain</a>'
        rows.append(
            [
                escape(m.merge_id),
                _when(m.at),
                m.kind.value,
                _person_link(m.into),
                _person_link(m.from_),
                _words(escape("; ".join(e.detail for e in m.evidence if e.detail))),
                escape(m.actor),
                state,
                f"{explain_link} {action}",
            ]
        )
        classes.append("")
    if not rows:
        return "<p class='muted'>None.</p>"
    return _table(["id", "at", "kind", "into", "from", "evidence", "actor", "state", ""], rows, row_class=classes)


@routes.get("/merges")
async def merges(request: web.Request) -> web.Response:
    store = request.config_dict[STORE]
    records = await recent_merges(store)
    done = request.query.get("split", "")
    body = f'<p class="ok">Split {escape(done)}: both sides have their profiles back.</p>' if done else ""
    body += "<p>Newest first. A split gives the absorbed side its profiles, messages and leads back and remembers"
    body += " that the two are not the same person.</p>" + _merge_table(
        records, _user(request), await _erased(store, records)
    )
    return _page("Recent merges and splits", body)


@routes.post("/merges/{merge_id}/split")
async def split(request: web.Request) -> web.Response:
    user = _user(request)
    form = await request.post()
    if not csrf_ok(user, str(form.get("csrf", ""))):
        return _page("Refused", "<p>This form is stale (or not ours): reload the page and try again.</p>", status=403)
    store = request.config_dict[STORE]
    merge_id = request.match_info["merge_id"]
    pipeline_merger = _merger(request)
    index = request.config_dict.get(INDEX)
    async with store.atomic():
        record = await pipeline_merger.split(merge_id, actor=user.name, at=datetime.now(UTC))
        if index is not None:  # the inbox list shows both sides with their own leads and flags
            await index.split(record)
        # In the inbox's audit log like a split made there.
        await store.add_audit(
            AuditEntry(
                entry_id=f"a_{secrets.token_hex(8)}",
                at=record.at,
                actor=user.name,
                action="split",
                person_id=record.into,
                target=merge_id,
                detail=f"{record.from_} separated from {record.into}",
            )
        )
    raise web.HTTPSeeOther(f"/ops/merges?{urlencode({'split': record.undoes or merge_id})}")


def _merger(request: web.Request) -> Merger:
    # The pipeline's merger carries the lead book: a split gives each side its leads back.
    return request.config_dict[PIPELINE].merger


# -- shared identifiers and generic values ----------------------------------------------------------
@routes.get("/shared")
async def shared(request: web.Request) -> web.Response:
    store, settings = request.config_dict[STORE], request.config_dict[SETTINGS]
    report = await shared_report(store)
    rows = []
    for item in report:
        holders = "<br>".join(
            f"{escape(h.name or '—')} · <code>{escape(mask_key(h.profile_key))}</code> · {_person_link(h.person_id)}"
            for h in item.holders
        )
        rows.append(
            [
                f"<code>{escape(mask_key(item.key))}</code>",
                _words(escape(item.reason)),
                _when(item.since),
                str(item.persons),
                holders,
            ]
        )
    body = "<p>An identifier that joins people with different names (an office line, a family phone) is <i>shared</i>:"
    body += " it no longer merges by itself and only produces suggestions for review.</p>"
    body += (
        _table(["identifier", "why", "since", "persons", "profiles"], rows) if rows else "<p class='muted'>None.</p>"
    )
    body += f"<h2>Blocked generic values</h2><p>{escape(GENERIC_RULE)}</p>"
    body += _table(
        ["kind", "example", "blocked by the rule"],
        [
            [e.kind, f"<code>{escape(e.value)}</code>", "yes" if e.blocked else "no"]
            for e in generic_examples(settings.default_region)
        ],
    )
    return _page("Shared identifiers and generic values", body)


# -- person sizes -----------------------------------------------------------------------------------
@routes.get("/sizes")
async def sizes(request: web.Request) -> web.Response:
    report = await size_report(request.config_dict[STORE], request.config_dict[SETTINGS])
    body = _alarm(report.alarmed, report.alarm_size)
    body += (
        f"<p>{report.persons} persons. Alarm above {report.alarm_size} profiles (STITCH_OPS_ALARM_PROFILES, default "
        f"STITCH_MAX_PROFILES = {report.max_profiles}: past that size a person grows only through review).</p>"
    )
    top = max(report.histogram.values(), default=1)
    body += "<h2>Distribution</h2>" + _table(
        ["profiles", "persons", ""],
        [
            [str(size), str(n), f'<span class="bar" style="width:{max(2, round(300 * n / top))}px"></span>']
            for size, n in report.histogram.items()
        ],
        row_class=["row-alarm" if size > report.alarm_size else "" for size in report.histogram],
    )
    body += "<h2>Largest persons</h2>" + _table(
        ["person", "name", "profiles"],
        [[_person_link(p.person_id), escape(p.display_name), str(p.profiles)] for p in report.largest],
        row_class=["row-alarm" if p.alarmed else "" for p in report.largest],
    )
    return _page("Person sizes", body)


# -- review backlog ---------------------------------------------------------------------------------
@routes.get("/review")
async def review(request: web.Request) -> web.Response:
    backlog = await review_backlog(request.config_dict[STORE])
    bands = Bands.of(request.config_dict[SETTINGS].resolver)
    body = f"<p><b>{backlog.pending}</b> suggestions wait for review; the oldest since {_when(backlog.oldest)}.</p>"
    body += _table(
        ["suggestion", "created", "match probability", "person A", "person B", "evidence", ""],
        [
            [
                escape(s.suggestion_id),
                _when(s.created_at),
                _chance(suggestion_probability(s.score, s.evidence), bands),
                _person_link(s.a),
                _person_link(s.b),
                _words(escape("; ".join(e.detail for e in s.evidence if e.detail))),
                f'<a href="/ops/explain?{urlencode({"a": s.a, "b": s.b})}">explain</a>',
            ]
            for s in backlog.newest
        ],
    )
    return _page("Review queue", body)


def _chance(p: float | None, bands: Bands) -> str:
    """A suggestion's match probability with its strength word; one kept before probabilities: unrated."""
    line = Line(text="", strength=Strength.UNRATED if p is None else bands.word(p), probability=p)
    shown = "not measured" if p is None else percent(p)
    return f'<span class="when">{escape(shown)}</span> {strength_html(line)}'


# -- parked events, dead letters and failed replies -------------------------------------------------
def _retry_form(action: str, csrf: str, label: str) -> str:
    return (
        f'<form class="inline" method="post" action="{escape(action)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}"><button>{escape(label)}</button></form>'
    )


def _parked_section(parked: Iterable[ParkedEvent], user: OpsUser) -> str:
    rows = [
        [
            escape(p.event_id),
            escape(p.channel),
            _when(p.received_at),
            str(p.attempts),
            _words(escape(mask_text(p.reason))),
            _retry_form(f"/ops/events/{quote(p.event_id, safe='')}/retry", user.csrf, "Retry"),
        ]
        for p in parked
    ]
    body = (
        "<h2>Parked events</h2><p>Stored events whose resolution kept failing: set aside as failed, out of the"
        " pending backlog. Fix the cause, then retry (or <code>stitch events retry</code>).</p>"
    )
    if not rows:
        return body + "<p class='muted'>No parked events.</p>"
    body += _retry_form("/ops/events/retry", user.csrf, "Retry all") if len(rows) > 1 else ""
    return body + _table(["event", "channel", "received", "attempts", "reason", ""], rows)


@routes.post("/events/retry")
@routes.post("/events/{event_id}/retry")
async def retry_events(request: web.Request) -> web.Response:
    user = _user(request)
    form = await request.post()
    if not csrf_ok(user, str(form.get("csrf", ""))):
        return _page("Refused", "<p>This form is stale (or not ours): reload the page and try again.</p>", status=403)
    event_id = request.match_info.get("event_id", "")
    summary = await retry_parked(request.config_dict[PIPELINE], [event_id] if event_id else ())
    raise web.HTTPSeeOther(f"/ops/failures?{urlencode({'retried': summary.line()})}")


@routes.get("/failures")
async def failures(request: web.Request) -> web.Response:
    store = request.config_dict[STORE]
    retried = request.query.get("retried", "")
    body = f'<p class="ok">{escape(retried.capitalize())}.</p>' if retried else ""
    body += _parked_section(await store.parked_events(FAILURES_LISTED), _user(request))
    dead = await request.config_dict[PROBES].dead_letters(FAILURES_LISTED)
    body += "<h2>Dead letters</h2><p>Queued events that kept failing to resolve (Redis ingest stream).</p>"
    body += (
        _table(
            ["entry", "event", "reason", "deliveries", "at"],
            [
                [
                    escape(d.entry_id),
                    escape(d.event_id),
                    _words(escape(mask_text(d.reason))),
                    str(d.deliveries),
                    _when(d.at),
                ]
                for d in dead
            ],
        )
        if dead
        else "<p class='muted'>None.</p>"
    )
    failed = await store.outbox_failed(FAILURES_LISTED)
    body += "<h2>Failed replies</h2><p>Managers' replies the provider refused or that gave up after retries.</p>"
    body += (
        _table(
            ["reply", "person", "channel", "attempts", "error", "updated", "by"],
            [
                [
                    escape(i.id),
                    _person_link(i.person_id),
                    i.channel.value,
                    str(i.attempts),
                    _words(escape(mask_text(i.error))),
                    _when(i.updated_at),
                    escape(i.actor),
                ]
                for i in failed
            ],
        )
        if failed
        else "<p class='muted'>None.</p>"
    )
    return _page("Parked events, dead letters and failed replies", body)


def create_ops_app(token: str, *, access: OpsAccess | None = None) -> web.Application:
    """The ops sub-app. `access` replaces the token-or-loopback hook (the inbox's login, roles ops/admin)."""
    ops = web.Application(middlewares=[guard])
    default = TokenOrLoopback(token)
    ops[OPS_DEFAULT] = default
    ops[OPS_ACCESS] = access or LoginOrToken(default)
    ops.add_routes(routes)
    return ops


__all__ = ["OPS_ACCESS", "create_ops_app"]
