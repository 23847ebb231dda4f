"""Seeing the running service: correlation ids and request log lines, `/metrics`, readiness.

Every request gets a correlation id (the caller's `X-Request-Id` when it looks like one, else a new
one), set in `core.loggers.correlation_id` so each log line made while handling it carries `cid`,
and echoed in the response. One JSON line per request names the route *pattern*, never the path:
Avito's webhook path holds its secret.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from app.keys import PIPELINE, PROCESSOR, SETTINGS, STORE
from app.metrics import CONTENT_TYPE, Metrics, authorized
from app.probes import PROBES, Probes
from app.webhooks import AUTH_FAILURES
from core.config import Settings
from core.loggers import correlation_id
from core.records import EventStatus

log = logging.getLogger("stitch.http")

METRICS = web.AppKey("metrics", Metrics)
REQUEST_ID = "X-Request-Id"
_GOOD_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # scraped every few seconds: no log line

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def correlation(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(REQUEST_ID, "")
    cid = given if _GOOD_ID.fullmatch(given) else secrets.token_hex(8)
    token = correlation_id.set(cid)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID] = cid
        return response
    except web.HTTPException as e:
        status = e.status
        e.headers[REQUEST_ID] = cid
        raise
    finally:
        if request.path not in QUIET_PATHS:
            route = request.match_info.route.resource
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "route": route.canonical if route is not None else "unmatched",
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        correlation_id.reset(token)


async def processor_backlog(app: web.Application) -> int:
    """Accepted events not resolved yet, from whichever queue this app runs."""
    return await app[PROCESSOR].backlog()


async def metrics_view(request: web.Request) -> web.Response:
    app = request.app
    if not authorized(request, app[SETTINGS].metrics_token):
        return web.json_response({"ok": False, "error": "metrics token required"}, status=401)
    probes = app[PROBES]
    await app[METRICS].refresh(app[STORE], queue_lag=probes.queue_lag, backlog=await probes.backlog())
    return web.Response(body=app[METRICS].expose(), headers={"Content-Type": CONTENT_TYPE})


async def readiness(app: web.Application) -> tuple[bool, dict[str, object]]:
    """Ready when the store answers and the resolvers keep up (backlog below STITCH_READY_MAX_BACKLOG).

    `pending` is what the store holds unresolved and not parked, whoever was handed it; `backlog`
    is the larger of that and the queue's own count. Parked events are reported, not waited for:
    they need an operator, not more time.
    """
    store = app[STORE]
    store_ok = await store.ping()
    pending = parked = 0
    if store_ok:
        pending = await store.count_events(EventStatus.PENDING)
        parked = await store.count_events(EventStatus.FAILED)
    backlog = max(pending, await app[PROBES].backlog())
    limit = app[SETTINGS].ready_max_backlog
    keeping_up = backlog < limit
    ok = store_ok and keeping_up
    return ok, {
        "ok": ok,
        "store": store_ok,
        "backlog": backlog,
        "pending": pending,
        "parked": parked,
        "max_backlog": limit,
        "keeping_up": keeping_up,
    }


def setup_observability(app: web.Application, settings: Settings) -> None:
    """Correlation ids, `/metrics` and the probes; call after the store context is registered."""
    app.middlewares.append(correlation)
    app[PROBES] = Probes()
    app[METRICS] = Metrics(alarm_profiles=settings.alarm_profiles, auth_failures=lambda: app.get(AUTH_FAILURES) or {})
    app.cleanup_ctx.append(_observe_ctx)
    app.router.add_get("/metrics", metrics_view)


async def _observe_ctx(app: web.Application) -> AsyncIterator[None]:
    probes = app[PROBES]

    async def backlog() -> int:
        return await processor_backlog(app)

    probes.backlog = backlog
    observer = app[METRICS].observe
    app[PIPELINE].observers.append(observer)
    yield
    if observer in app[PIPELINE].observers:
        app[PIPELINE].observers.remove(observer)
