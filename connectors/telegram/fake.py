"""FakeTelegram: a local Bot API server for aiogram pointed at it with `TelegramAPIServer.from_base`.

aiogram posts every method as form data (nested objects JSON-encoded) to `/bot{token}/{method}`;
answers are `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
"parameters"}`, with the HTTP status equal to the error code, which is what aiogram maps to its
exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from aiohttp import web

from connectors.fakes._server import FakeServer, new_secret
from core.config import Settings

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_POLL_TIMEOUT = 50  # Telegram caps getUpdates' long-poll timeout


@dataclass(frozen=True, slots=True, kw_only=True)
class SentMessage:
    """One sendMessage call as the fake received it."""

    chat_id: str
    text: str
    reply_markup: dict[str, Any] | None
    message_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _Failure:
    status: int
    description: str
    retry_after: int | None = None


@dataclass(slots=True)
class _State:
    sent: list[SentMessage] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    webhook_url: str = ""
    webhook_secret: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 1
    next_message_id: int = 1


class FakeTelegram(FakeServer):
    """A Bot API server for one bot token; records calls and fails on request."""

    def __init__(self, token: str = "42:TEST", *, username: str = "stitch_test_bot") -> None:
        super().__init__()
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.state = _State()
        self._failures: deque[_Failure] = deque()
        self._arrived = asyncio.Condition()
        self._closing = False

    # --- recorded state -------------------------------------------------------------------------
    @property
    def sent(self) -> list[SentMessage]:
        return self.state.sent

    @property
    def calls(self) -> list[str]:
        """Method names in the order they were called (getMe, sendMessage, ...)."""
        return self.state.calls

    @property
    def webhook_url(self) -> str:
        return self.state.webhook_url

    @property
    def webhook_secret(self) -> str:
        return self.state.webhook_secret

    # --- failure switches -----------------------------------------------------------------------
    def fail_blocked(self, times: int = 1) -> None:
        """The next `times` sendMessage calls answer 403: the user blocked the bot."""
        self._queue(_Failure(status=403, description="Forbidden: bot was blocked by the user"), times)

    def fail_flood(self, retry_after: int = 3, times: int = 1) -> None:
        """The next `times` sendMessage calls answer 429 with `parameters.retry_after`."""
        failure = _Failure(
            status=429, description=f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
        )
        self._queue(failure, times)

    def fail_server(self, times: int = 1) -> None:
        """The next `times` sendMessage calls answer 500."""
        self._queue(_Failure(status=500, description="Internal Server Error"), times)

    def _queue(self, failure: _Failure, times: int) -> None:
        self._failures.extend([failure] * times)

    # --- inbound helpers ------------------------------------------------------------------------
    def text_update(
        self,
        *,
        user_id: int,
        text: str = "",
        first_name: str = "Ivan",
        last_name: str | None = None,
        username: str | None = None,
        contact_phone: str | None = None,
        date: int | None = None,
    ) -> dict[str, Any]:
        """A private-chat message update in Telegram's shape (without an update_id yet)."""
        sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            sender["last_name"] = last_name
        if username is not None:
            sender["username"] = username
        message: dict[str, Any] = {
            "message_id": self._message_id(),
            "date": int(time.time()) if date is None else date,
            "chat": {"id": user_id, "type": "private", "first_name": first_name},
            "from": sender,
        }
        if contact_phone is not None:
            message["contact"] = {"phone_number": contact_phone, "first_name": first_name, "user_id": user_id}
        else:
            message["text"] = text
        return {"message": message}

    async def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (long polling); assigns `update_id` when missing."""
        update = self._numbered(update)
        async with self._arrived:
            self.state.updates.append(update)
            self._arrived.notify_all()
        return update

    async def post_update(self, update: dict[str, Any], *, url: str | None = None, secret: str | None = None) -> int:
        """POST an update to a webhook like Telegram does; returns the HTTP status answered.

        Defaults to the URL and secret registered with setWebhook.
        """
        update = self._numbered(update)
        target = url or self.state.webhook_url
        token = self.state.webhook_secret if secret is None else secret
        headers = {SECRET_HEADER: token} if token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.post(target, json=update, headers=headers) as r,
        ):
            await r.read()
            return r.status

    def _numbered(self, update: dict[str, Any]) -> dict[str, Any]:
        if "update_id" not in update:
            update = {"update_id": self.state.next_update_id, **update}
        self.state.next_update_id = max(self.state.next_update_id, int(update["update_id"]) + 1)
        return update

    def _message_id(self) -> int:
        mid = self.state.next_message_id
        self.state.next_message_id += 1
        return mid

    # --- server ---------------------------------------------------------------------------------
    def stitch_settings(self, settings: Settings) -> Settings:
        return replace(
            settings,
            telegram_bot_token=self.token,
            telegram_webhook_secret=new_secret(),
            telegram_api_base=self.base_url,
        )

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)

    async def _on_close(self) -> None:
        self._closing = True
        async with self._arrived:
            self._arrived.notify_all()

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.state.calls.append(method)
        handler = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getupdates": self._get_updates,
        }.get(method.lower())
        if handler is None:
            return _error(404, "Not Found: method not found")
        return await handler(form)

    async def _get_me(self, form: dict[str, str]) -> web.Response:
        return _ok(self._bot_user())

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Stitch", "username": self.username}

    async def _send_message(self, form: dict[str, str]) -> web.Response:
        if self._failures:
            f = self._failures.popleft()
            return _error(f.status, f.description, retry_after=f.retry_after)
        chat_id, text = form.get("chat_id", ""), form.get("text", "")
        if not chat_id or not text:
            return _error(400, "Bad Request: message text is empty" if chat_id else "Bad Request: chat not found")
        markup = json.loads(form["reply_markup"]) if "reply_markup" in form else None
        mid = self._message_id()
        self.state.sent.append(SentMessage(chat_id=chat_id, text=text, reply_markup=markup, message_id=mid))
        chat: dict[str, Any] = (
            {"id": int(chat_id), "type": "private"}
            if chat_id.lstrip("-").isdigit()
            else {"id": -1, "type": "channel", "username": chat_id.lstrip("@")}
        )
        return _ok(
            {
                "message_id": mid,
                "date": int(time.time()),
                "chat": chat,
                "from": self._bot_user(),
                "text": text,
            }
        )

    async def _set_webhook(self, form: dict[str, str]) -> web.Response:
        url = form.get("url", "")
        self.state.webhook_url = url
        self.state.webhook_secret = form.get("secret_token", "") if url else ""
        return _ok(True, description="Webhook was set" if url else "Webhook was deleted")

    async def _delete_webhook(self, form: dict[str, str]) -> web.Response:
        self.state.webhook_url = ""
        self.state.webhook_secret = ""
        if form.get("drop_pending_updates") == "true":
            self.state.updates.clear()
        return _ok(True, description="Webhook was deleted")

    async def _get_updates(self, form: dict[str, str]) -> web.Response:
        if self.state.webhook_url:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(form.get("offset", "0") or 0)
        timeout = min(float(form.get("timeout", "0") or 0), MAX_POLL_TIMEOUT)
        limit = int(form.get("limit", "100") or 100)
        if offset:
            # Telegram forgets every update below the offset: the client has confirmed them.
            self.state.updates = [u for u in self.state.updates if u["update_id"] >= offset]
        async with self._arrived:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: bool(self.state.updates) or self._closing), timeout
                )
        return _ok(self.state.updates[:limit])


def _ok(result: Any, *, description: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description is not None:
        body["description"] = description
    return web.json_response(body)


def _error(status: int, description: str, *, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)
