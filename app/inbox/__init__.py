"""The managers' inbox: users and sessions, the JSON API (/api) and the HTML pages (/inbox)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from app.inbox.api import api_app
from app.inbox.auth import Auth
from app.inbox.index import InboxIndex
from app.inbox.keys import AUTH, BROKER, INDEX, SERVICE
from app.inbox.live import Broker
from app.inbox.pages import inbox_app
from app.inbox.service import InboxService
from app.keys import PIPELINE, SETTINGS, STORE
from app.webhooks import OUTBOX
from core.config import Settings


def setup_inbox(app: web.Application, settings: Settings) -> None:
    """Mount /api and /inbox; call after `setup_live` (the inbox answers through its outbox)."""
    app.cleanup_ctx.append(_inbox_ctx)
    app.on_shutdown.append(_close_streams)

    async def to_inbox(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/inbox/")

    # Before the sub-app: its prefix resource would otherwise answer `/inbox` with 404.
    app.router.add_get("/inbox", to_inbox)
    app.add_subapp("/api", api_app())
    app.add_subapp("/inbox", inbox_app())


async def _close_streams(app: web.Application) -> None:
    if BROKER in app:
        app[BROKER].close()


async def _inbox_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = app[STORE]
    pipeline = app[PIPELINE]
    broker = Broker()
    index = InboxIndex(store, broker)
    app[BROKER] = broker
    app[INDEX] = index
    app[AUTH] = Auth(store, settings)
    app[SERVICE] = InboxService(store, settings, pipeline.merger, app[OUTBOX], index, broker)
    pipeline.observers.append(index.observe)
    app[OUTBOX].listeners.append(index.on_outbox)
    await index.rebuild_if_empty()
    try:
        yield
    finally:
        broker.close()
        with contextlib.suppress(ValueError):
            pipeline.observers.remove(index.observe)
        with contextlib.suppress(ValueError):
            app[OUTBOX].listeners.remove(index.on_outbox)
