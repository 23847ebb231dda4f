"""The aiohttp application: composed from sub-apps, state under typed AppKeys, clients in cleanup contexts."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from app.bitrix24 import setup_bitrix24
from app.inbox import setup_inbox
from app.inbox.pages import ICON
from app.ingest import Pipeline
from app.keys import PIPELINE, PROCESSOR, SETTINGS, STORE
from app.observability import readiness, setup_observability
from app.ops.pages import create_ops_app
from app.processor import Processor
from app.queue import BaseQueue
from app.retention import setup_retention
from app.webhooks import setup_live
from core.config import Settings
from store import open_store
from store.base import BaseStore

log = logging.getLogger("stitch.web")


routes = web.RouteTableDef()


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    # The inbox is the way in; it sends whoever is not logged in to its login first.
    raise web.HTTPFound("/inbox/")


@routes.get("/ops")
async def ops_home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ops/")


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.StreamResponse:
    # The pages name their icon; this answers whatever asks the default address (a JSON page, a bookmark).
    return web.FileResponse(ICON, headers={"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    ready, body = await readiness(request.app)
    return web.json_response(body, status=200 if ready else 503)


def queue_for(store: BaseStore, pipeline: Pipeline, settings: Settings) -> BaseQueue:
    """Resolve in this process (SQLite), or enqueue for `stitch worker`s (Redis: several processes)."""
    from store.redis import RedisStore

    if isinstance(store, RedisStore):
        from app.streams import RedisStreamQueue

        queue = RedisStreamQueue(store, settings.worker)
        pipeline.observers.append(queue.feed_writer())
        return queue
    pipeline.keep_parsed = True  # this process resolves what it accepts: parse a webhook body once
    return Processor(pipeline)


def _plug_probes(app: web.Application, queue: BaseQueue) -> None:
    """The Redis queue answers the ops pages' stream lag and dead letters (app/probes.py)."""
    from app.probes import PROBES
    from app.streams import RedisStreamQueue

    if isinstance(queue, RedisStreamQueue) and PROBES in app:
        app[PROBES].queue_lag = queue.queue_lag
        app[PROBES].dead_letters = queue.dead_letters


async def settle_heap(app: web.Application) -> None:
    """An on_startup hook for a long-running server: exempt start-up's objects from the collector.

    Start-up leaves a few hundred thousand objects (aiogram's and pydantic's models, routes, the
    phone metadata) that live as long as the process. Python's full collections walk all of them:
    every few seconds under load, a pause of 100-200 ms in which no request is answered.
    `gc.freeze` moves what is alive now to a generation the collector never visits.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings, store: BaseStore | None = None) -> web.Application:
    """Build the app; pass a store to share one (tests), else it is opened from settings."""
    app = web.Application(client_max_size=1024 * 1024)
    app[SETTINGS] = settings

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        own = store is None
        app[STORE] = (
            store
            if store is not None
            else open_store(
                settings.store_url, lock_lease_s=settings.worker.lock_lease_s, lock_wait_s=settings.worker.lock_wait_s
            )
        )
        await app[STORE].open()
        app[PIPELINE] = Pipeline(app[STORE], settings)
        await app[PIPELINE].resolver.load_model()  # a model that cannot be used stops start-up
        app[PROCESSOR] = queue_for(app[STORE], app[PIPELINE], settings)
        _plug_probes(app, app[PROCESSOR])
        await app[PROCESSOR].start()
        yield
        await app[PROCESSOR].stop()
        if own:
            await app[STORE].close()

    app.cleanup_ctx.append(store_ctx)
    # Before the sub-apps: a sub-app's prefix resource would answer `/ops` (no slash) with 404.
    app.add_routes(routes)
    setup_live(app, settings)  # after store_ctx: the live context uses the store and the pipeline
    setup_inbox(app, settings)  # after setup_live: the inbox answers customers through its outbox
    setup_bitrix24(app, settings)  # after setup_live and setup_inbox: the push hooks into the outbox and conversion
    setup_observability(app, settings)  # after store_ctx: observes the pipeline
    setup_retention(app, settings)  # after store_ctx: sweeps the store
    app.add_subapp("/ops", create_ops_app(settings.ops_token))
    return app
