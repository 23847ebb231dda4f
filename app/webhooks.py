"""Live channels: provider webhooks in, Telegram and MAX long polling, connectors and the outbox.

Each webhook authenticates (`connector.verify`), decodes (`connector.envelope`), stores the raw
event as pending (`Pipeline.accept`) and answers; the processor resolves it right after. The
provider gets its 200 only once the event is committed, and resolution never delays the answer.

    401/403  authentication failed: nothing stored, counted, one log line without secrets
    400      the body is not the provider's format: nothing stored, the reason in JSON
    404      the channel has no credentials configured (disabled at start-up)
    200      stored, a repeated delivery, a probe, or an update kind we ignore
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web

from app.contact import ContactAsker, questions
from app.keys import PIPELINE, PROCESSOR, SETTINGS, STORE
from app.outbox import Outbox
from connectors.avito.connector import AvitoConnector
from connectors.base import BaseConnector, WebhookRequest
from connectors.envelope import derive_event_id
from connectors.max.connector import MaxConnector
from connectors.telegram.bot import TelegramConnector
from connectors.whatsapp.twilio import WhatsAppConnector
from core.config import Settings
from core.errors import AuthError, ConnectorError, ParseError
from core.values import Channel, Envelope

log = logging.getLogger("stitch.webhooks")

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class Connectors(dict[Channel, BaseConnector]):
    """The channels configured in this process, by channel."""


class AuthFailures(Counter[str]):
    """Rejected webhook deliveries by channel (exposed to ops and metrics)."""


CONNECTORS = web.AppKey("connectors", Connectors)
OUTBOX = web.AppKey("outbox", Outbox)
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)
CONTACT_ASKER = web.AppKey("contact_asker", ContactAsker)

webhook_routes = web.RouteTableDef()


def build_connectors(settings: Settings) -> Connectors:
    """Connectors for every channel whose credentials are set; one log line per disabled channel."""
    built = Connectors()
    if settings.telegram_bot_token:
        built[Channel.TELEGRAM] = TelegramConnector.from_settings(settings)
        if settings.public_url and not settings.telegram_webhook_secret:
            log.warning("telegram webhook refuses every update: STITCH_TELEGRAM_WEBHOOK_SECRET is not set")
    else:
        log.info("channel disabled", extra={"channel": "telegram", "missing": "STITCH_TELEGRAM_BOT_TOKEN"})
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_whatsapp_from:
        built[Channel.WHATSAPP] = WhatsAppConnector.from_settings(settings)
        if not settings.public_url:
            log.warning("whatsapp webhooks refuse every post: STITCH_PUBLIC_URL is needed to check signatures")
    else:
        missing = "STITCH_TWILIO_ACCOUNT_SID, STITCH_TWILIO_AUTH_TOKEN, STITCH_TWILIO_WHATSAPP_FROM"
        log.info("channel disabled", extra={"channel": "whatsapp", "missing": missing})
    if settings.avito_client_id and settings.avito_client_secret and settings.avito_webhook_secret:
        built[Channel.AVITO] = AvitoConnector.from_settings(settings)
    else:
        missing = "STITCH_AVITO_CLIENT_ID, STITCH_AVITO_CLIENT_SECRET, STITCH_AVITO_WEBHOOK_SECRET"
        log.info("channel disabled", extra={"channel": "avito", "missing": missing})
    if settings.max_bot_token:
        built[Channel.MAX] = MaxConnector.from_settings(settings)
        if settings.public_url and not settings.max_webhook_secret:
            log.warning("max webhook refuses every update: STITCH_MAX_WEBHOOK_SECRET is not set")
    else:
        log.info("channel disabled", extra={"channel": "max", "missing": "STITCH_MAX_BOT_TOKEN"})
    return built


def setup_live(app: web.Application, settings: Settings) -> None:
    """Mount the webhook routes and the live context; call after the store context is registered."""
    app[AUTH_FAILURES] = AuthFailures()
    app.cleanup_ctx.append(_live_ctx)
    app.add_routes(webhook_routes)


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
    telegram = connectors.get(Channel.TELEGRAM)
    stop = asyncio.Event()
    if isinstance(telegram, TelegramConnector) and not settings.public_url:
        log.info("telegram: no public URL, long polling")
        background.append(asyncio.create_task(_poll(app, telegram, stop), name="stitch-telegram-poll"))
    max_bot = connectors.get(Channel.MAX)
    if isinstance(max_bot, MaxConnector) and not settings.public_url:
        log.info("max: no public URL, long polling")
        background.append(asyncio.create_task(_poll_max(app, max_bot, stop), name="stitch-max-poll"))
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


async def _poll(app: web.Application, telegram: TelegramConnector, stop: asyncio.Event) -> None:
    async def handle(envelope: Envelope) -> None:
        await _accept(app, Channel.TELEGRAM, envelope)

    try:
        await telegram.poll(handle, stop)
    except ConnectorError as e:
        log.error("telegram polling stopped", extra={"reason": e.reason})
    except Exception:
        log.exception("telegram polling stopped")


async def _poll_max(app: web.Application, max_bot: MaxConnector, stop: asyncio.Event) -> None:
    async def handle(envelope: Envelope) -> None:
        try:
            await _accept(app, Channel.MAX, envelope)
        except ParseError as e:
            # A malformed update is dropped like a webhook's 400; polling goes on past it.
            log.warning("max update refused", extra={"field": e.field, "reason": e.reason})

    try:
        await max_bot.poll(handle, stop)
    except ConnectorError as e:
        log.error("max polling stopped", extra={"reason": e.reason})
    except Exception:
        log.exception("max polling stopped")


async def _accept(app: web.Application, channel: Channel, envelope: Envelope) -> bool:
    """Store the event under its derived id (shared with replay) and queue it for resolution."""
    envelope = dataclasses.replace(envelope, id=derive_event_id(channel, envelope.payload, envelope.received_at))
    fresh = await app[PIPELINE].accept(envelope)
    if fresh:
        await app[PROCESSOR].enqueue(envelope.id)
    return fresh


async def _hook(request: web.Request) -> WebhookRequest:
    body = await request.read()
    form: dict[str, str] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
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


async def _receive(request: web.Request, channel: Channel, *, auth_status: int = 401) -> web.Response | None:
    """Verify, decode, store. None when stored (or repeated); otherwise the response to give."""
    connector = _connector(request, channel)
    hook = await _hook(request)
    try:
        connector.verify(hook)
    except AuthError as e:
        return _rejected(request, channel, e, auth_status)
    try:
        envelope = connector.envelope(hook, datetime.now(UTC))
        if envelope is None:
            return web.json_response({"ok": True})
        envelope = await connector.enrich(envelope)
        await _accept(request.app, channel, envelope)
    except ParseError as e:
        return _bad(e)
    return None


@webhook_routes.post("/webhooks/telegram")
async def telegram_webhook(request: web.Request) -> web.Response:
    return await _receive(request, Channel.TELEGRAM) or web.json_response({"ok": True})


def _twiml() -> web.Response:
    # An empty TwiML document: Twilio sends no automatic reply.
    return web.Response(text=TWIML_EMPTY, content_type="text/xml")


@webhook_routes.post("/webhooks/whatsapp")
async def whatsapp_webhook(request: web.Request) -> web.Response:
    hook_form = await request.post() if request.content_type == "application/x-www-form-urlencoded" else {}
    if "MessageStatus" in hook_form and "Body" not in hook_form:
        # A status callback configured on the inbound URL: treat it as one.
        return await _status(request)
    return await _receive(request, Channel.WHATSAPP) or _twiml()


@webhook_routes.post("/webhooks/whatsapp/status")
async def whatsapp_status(request: web.Request) -> web.Response:
    return await _status(request)


async def _status(request: web.Request) -> web.Response:
    connector = _connector(request, Channel.WHATSAPP)
    assert isinstance(connector, WhatsAppConnector)
    hook = await _hook(request)
    try:
        connector.verify(hook)
    except AuthError as e:
        return _rejected(request, Channel.WHATSAPP, e, 401)
    try:
        update = connector.status_update(hook)
    except ParseError as e:
        if e.field == "MessageStatus":
            return _twiml()  # a status Twilio added after this code was written: nothing to do
        return _bad(e)
    item = await request.app[OUTBOX].on_status(Channel.WHATSAPP, update.message_sid, update.status, update.error_code)
    if item is None:
        log.info("status callback for an unknown message", extra={"status": str(update.status)})
    return _twiml()


@webhook_routes.post("/webhooks/avito/{secret}")
async def avito_webhook(request: web.Request) -> web.Response:
    # A wrong secret is a wrong URL: 403 (the path is the credential).
    return await _receive(request, Channel.AVITO, auth_status=403) or web.json_response({"ok": True})


@webhook_routes.post("/webhooks/max")
async def max_webhook(request: web.Request) -> web.Response:
    return await _receive(request, Channel.MAX) or web.json_response({"ok": True})
