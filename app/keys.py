"""Typed application keys: the process state every handler reads."""

from __future__ import annotations

from aiohttp import web

from app.ingest import Pipeline
from app.queue import BaseQueue
from core.config import Settings
from store.base import BaseStore

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", BaseStore)
PIPELINE = web.AppKey("pipeline", Pipeline)
PROCESSOR = web.AppKey("processor", BaseQueue)
