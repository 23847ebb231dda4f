"""Live channels: provider webhooks in, long polling, connectors and the outbox.

Every channel in `connectors/registry.py` brings its routes (`ChannelSpec.webhooks`); each one
authenticates (`connector.verify`), decodes (`connector.envelope`, final event id included), stores
the raw event as pending (`Pipeline.accept`) and answers; the processor resolves it right after. The
provider gets its 200 only once the event is committed, and resolution never delays the answer.

    401/403  authentication failed: nothing stored, counted, one log line without secrets
    400      the body is not the provider's format: nothing stored, the reason in JSON
    404      the channel has no credentials configured (disabled at start-up)
    200      stored, a repeated delivery, a probe, a delivery report, or an update kind we ignore
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from app.contact import ContactAsker, questions
from app.keys import PIPELINE, PROCESSOR, SETTINGS, STORE
from app.outbox import Outbox
from connectors.base import BaseConnector, WebhookRequest, WebhookRoute
from connectors.registry import CHANNELS
from core.config import Settings
from core.errors import AuthError, ConnectorError, ParseError
from core.values import Channel, Envelope

log = logging.getLogger("stitch.webhooks")


class Connectors(dict[Channel, BaseConnector]):
    """The channels configured in this process, by channel."""


class AuthFailures(Counter[str]):
    """Rejected webhook deliveries by channel (exposed to ops and metrics)."""


CONNECTORS = web.AppKey("connectors", Connectors)
OUTBOX = web.AppKey("outbox", Outbox)
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)
CONTACT_ASKER = web.AppKey("contact_asker", ContactAsker)


def build_connectors(settings: Settings) -> Connectors:
    """Connectors for every channel whose credentials are set; one log line per disabled channel."""
    built = Connectors()
    for spec in CHANNELS:
        connector = spec.build(settings)
        if connector is not None:
            built[spec.channel] = connector
        else:
            log.info("channel disabled", extra={"channel": str(spec.channel), "missing": spec.missing})
    return built


def setup_live(app: web.Application, settings: Settings) -> None:
    """Mount every channel's webhook routes and the live context; call after the store context."""
    app[AUTH_FAILURES] = AuthFailures()
    app.cleanup_ctx.append(_live_ctx)
    for spec in CHANNELS:
        for route in spec.webhooks:
            app.router.add_route(route.method, route.path, _webhook(spec.channel, route))


async def _live_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    connectors = build_connectors(settings)
    app[CONNECTORS] = connectors
    outbox = Outbox(app[STORE], connectors, attempts=settings.outbox_attempts)
    app[OUTBOX] = outbox
    asker = ContactAsker(app[STORE], questions(connectors, settings))
    app[CONTACT_ASKER] = asker
    app[PIPELINE].observers.append(asker.observe)
    background: list[asyncio.Task[object]] = [asyncio.create_task(outbox.recover(), name="stitch-outbox-recover")]
    stop = asyncio.Event()
    if not settings.public_url:
        for connector in connectors.values():
            if connector.polls:
                log.info(f"{connector.channel}: no public URL, long polling")
                name = f"stitch-{connector.channel}-poll"
                background.append(asyncio.create_task(_poll(app, connector, stop), name=name))
    try:
        yield
    finally:
        stop.set()
        for task in background:
            if task.get_name() == "stitch-outbox-recover":
                task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        with contextlib.suppress(ValueError):
            app[PIPELINE].observers.remove(asker.observe)
        await asker.close()
        for connector in connectors.values():
            await connector.close()


async def _poll(app: web.Application, connector: BaseConnector, stop: asyncio.Event) -> None:
    channel = str(connector.channel)

    async def handle(envelope: Envelope) -> None:
        try:
            await _accept(app, envelope)
        except ParseError as e:
            # A malformed update is dropped like a webhook's 400; polling goes on past it.
            log.warning("update refused", extra={"channel": channel, "field": e.field, "reason": e.reason})

    try:
        await connector.poll(handle, stop)
    except ConnectorError as e:
        log.error("polling stopped", extra={"channel": channel, "reason": e.reason})
    except Exception:
        log.exception("polling stopped", extra={"channel": channel})


async def _accept(app: web.Application, envelope: Envelope) -> bool:
    """Store the event (its id is final: the one replay derives) and queue it for resolution."""
    fresh = await app[PIPELINE].accept(envelope)
    if fresh:
        await app[PROCESSOR].enqueue(envelope.id)
    return fresh


async def _hook(request: web.Request) -> WebhookRequest:
    body = await request.read()
    form: dict[str, str] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        try:
            form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        except (UnicodeDecodeError, ValueError):
            # Not decodable as a form: the connector judges the raw body (signature check, 400).
            form = {}
    return WebhookRequest(
        path=request.path_qs,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        content_type=request.content_type,
        form=form,
        remote=request.remote or "",
    )


def _connector(request: web.Request, channel: Channel) -> BaseConnector:
    connector = request.app[CONNECTORS].get(channel)
    if connector is None:
        raise web.HTTPNotFound(text=f"{channel} is not configured", content_type="text/plain")
    return connector


def _rejected(request: web.Request, channel: Channel, e: AuthError, status: int) -> web.Response:
    request.app[AUTH_FAILURES][str(channel)] += 1
    # The reason names what failed ("signature mismatch"), never the secret or the signature.
    log.warning("webhook rejected", extra={"channel": str(channel), "reason": e.reason, "remote": request.remote})
    return web.json_response({"ok": False, "error": "authentication failed"}, status=status)


def _bad(e: ParseError) -> web.Response:
    return web.json_response({"ok": False, "error": str(e), "field": e.field}, status=400)


def _webhook(channel: Channel, route: WebhookRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler of one channel route: verify, then a delivery report or an event to store."""

    async def handle(request: web.Request) -> web.StreamResponse:
        connector = _connector(request, channel)
        if route.own:

            async def accept(envelope: Envelope) -> bool:
                return await _accept(request.app, envelope)

            return await connector.answer(route, request, accept)
        hook = await _hook(request)
        try:
            connector.verify(hook)
        except AuthError as e:
            return _rejected(request, channel, e, route.auth_status)
        try:
            report = connector.delivery_report(hook)
            if report is not None:
                if report.status is not None:
                    item = await request.app[OUTBOX].on_status(
                        channel, report.provider_message_id, report.status, report.error_code
                    )
                    if item is None:
                        log.info("status callback for an unknown message", extra={"status": str(report.status)})
            else:
                envelope = connector.envelope(hook, datetime.now(UTC))
                if envelope is not None:
                    await _accept(request.app, await connector.enrich(envelope))
        except ParseError as e:
            return _bad(e)
        return web.Response(text=route.ok_body, content_type=route.ok_type)

    return handle
