"""Typed application keys of the inbox."""

from __future__ import annotations

from aiohttp import web

from app.inbox.auth import Auth
from app.inbox.index import InboxIndex
from app.inbox.live import Broker
from app.inbox.service import InboxService

AUTH = web.AppKey("inbox_auth", Auth)
BROKER = web.AppKey("inbox_broker", Broker)
INDEX = web.AppKey("inbox_index", InboxIndex)
SERVICE = web.AppKey("inbox_service", InboxService)
