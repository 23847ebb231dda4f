"""The aiohttp application: composed from sub-apps, state under typed AppKeys, clients in cleanup contexts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from app.forms import LIMITER, RateLimiter, form_routes
from app.ingest import Pipeline
from app.keys import PIPELINE, PROCESSOR, SETTINGS, STORE
from app.processor import Processor
from app.queue import BaseQueue
from core.config import Settings
from store import open_store
from store.base import BaseStore

log = logging.getLogger("stitch.web")


routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    store = request.app[STORE]
    processor = request.app[PROCESSOR]
    ready = await store.ping()
    backlog = await processor.backlog()
    body = {"ok": ready, "store": ready, "backlog": backlog}
    return web.json_response(body, status=200 if ready else 503)


def queue_for(store: BaseStore, pipeline: Pipeline, settings: Settings) -> BaseQueue:
    """Resolve in this process (SQLite), or enqueue for `stitch worker`s (Redis: several processes)."""
    from store.redis import RedisStore

    if isinstance(store, RedisStore):
        from app.streams import RedisStreamQueue

        queue = RedisStreamQueue(store, settings.worker)
        pipeline.observers.append(queue.feed_writer())
        return queue
    return Processor(pipeline)


def create_app(settings: Settings, store: BaseStore | None = None) -> web.Application:
    """Build the app; pass a store to share one (tests), else it is opened from settings."""
    app = web.Application(client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[LIMITER] = RateLimiter()

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
        app[PROCESSOR] = queue_for(app[STORE], app[PIPELINE], settings)
        await app[PROCESSOR].start()
        yield
        await app[PROCESSOR].stop()
        if own:
            await app[STORE].close()

    app.cleanup_ctx.append(store_ctx)
    app.add_routes(routes)
    app.add_routes(form_routes)
    return app
