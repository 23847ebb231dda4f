"""FakeMax: a local MAX Bot API server speaking its wire format, for tests and the demo.

Every call must carry the bot token in the `Authorization` header (401 `verify.token` otherwise).
`POST /messages?user_id=…` records the message; `POST/DELETE /subscriptions` set and clear the webhook;
`GET /updates` long-polls (blocks up to `timeout`) for pushed updates after `marker`; `GET /me` names
the bot. Errors are an HTTP status with `{"code", "message"}`, as MAX answers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from aiohttp import web

from connectors.fakes._server import FakeServer, new_secret
from core.config import Settings

SECRET_HEADER = "X-Max-Bot-Api-Secret"
MAX_POLL_TIMEOUT = 90  # MAX caps the long-poll timeout


@dataclass(frozen=True, slots=True, kw_only=True)
class SentMessage:
    """One `POST /messages` as the fake received it."""

    user_id: str
    chat_id: str
    text: str
    attachments: list[dict[str, Any]]
    mid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Failure:
    status: int
    code: str
    retry_after: int | None = None


@dataclass(slots=True)
class _State:
    sent: list[SentMessage] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    webhook_url: str = ""
    webhook_secret: str = ""
    update_types: list[str] = field(default_factory=list)
    queued: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (marker, update)
    next_marker: int = 1
    next_seq: int = 1


class FakeMax(FakeServer):
    """A Bot API server for one bot token; records calls and fails on request."""

    def __init__(
        self, token: str = "max-test-token", *, bot_id: int = 900_001, username: str = "stitch_max_bot"
    ) -> None:
        super().__init__()
        self.token = token
        self.bot_id = bot_id
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
        """Calls as "METHOD /path", in the order they were made."""
        return self.state.calls

    @property
    def webhook_url(self) -> str:
        return self.state.webhook_url

    @property
    def webhook_secret(self) -> str:
        return self.state.webhook_secret

    # --- failure switches -----------------------------------------------------------------------
    def fail_blocked(self, times: int = 1) -> None:
        """The next `times` sends answer 403: the user blocked the bot."""
        self._failures.extend([_Failure(status=403, code="chat.denied")] * times)

    def fail_flood(self, retry_after: int = 3, times: int = 1) -> None:
        """The next `times` sends answer 429 with a Retry-After header."""
        self._failures.extend([_Failure(status=429, code="too.many.requests", retry_after=retry_after)] * times)

    def fail_server(self, times: int = 1) -> None:
        """The next `times` sends answer 500."""
        self._failures.extend([_Failure(status=500, code="internal.error")] * times)

    # --- inbound helpers ------------------------------------------------------------------------
    def text_update(
        self,
        *,
        user_id: int,
        text: str = "",
        first_name: str = "Ivan",
        last_name: str = "",
        username: str | None = None,
        contact_phone: str | None = None,
        timestamp_ms: int | None = None,
        mid: str | None = None,
    ) -> dict[str, Any]:
        """A `message_created` Update from a user's dialog with the bot, in MAX's shape.

        With `contact_phone` the message is the user's own contact card (the request_contact button).
        """
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        sender: dict[str, Any] = {
            "user_id": user_id,
            "first_name": first_name,
            "last_name": last_name,
            "is_bot": False,
            "last_activity_time": stamp,
            "name": " ".join(p for p in (first_name, last_name) if p),
        }
        if username is not None:
            sender["username"] = username
        body: dict[str, Any] = {"mid": mid or self._mid(), "seq": self._seq()}
        if contact_phone is not None:
            vcard = "\r\n".join(
                (
                    "BEGIN:VCARD",
                    "VERSION:3.0",
                    f"N:{last_name};{first_name};;;",
                    f"FN:{sender['name']}",
                    f"TEL;TYPE=cell:{contact_phone}",
                    "END:VCARD",
                )
            )
            owner = {k: v for k, v in sender.items() if k != "last_activity_time"}
            body["attachments"] = [{"type": "contact", "payload": {"vcf_info": vcard, "max_info": owner}}]
        else:
            body["text"] = text
        return {
            "update_type": "message_created",
            "timestamp": stamp,
            "message": {
                "recipient": {"chat_id": -(10**12) - user_id, "chat_type": "dialog", "user_id": self.bot_id},
                "timestamp": stamp,
                "body": body,
                "sender": sender,
            },
            "user_locale": "ru",
        }

    def bot_started(self, *, user_id: int, first_name: str = "Ivan") -> dict[str, Any]:
        """The update MAX sends when a user opens the dialog with the bot."""
        return {
            "update_type": "bot_started",
            "timestamp": int(time.time() * 1000),
            "chat_id": -(10**12) - user_id,
            "user": {"user_id": user_id, "first_name": first_name, "is_bot": False, "name": first_name},
            "user_locale": "ru",
        }

    async def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for `GET /updates` (long polling)."""
        async with self._arrived:
            self.state.queued.append((self.state.next_marker, update))
            self.state.next_marker += 1
            self._arrived.notify_all()

    async def post_update(self, update: dict[str, Any], *, url: str | None = None, secret: str | None = None) -> int:
        """POST an update to a webhook as MAX does; returns the HTTP status answered.

        Defaults to the URL and secret registered with `POST /subscriptions`.
        """
        target = url or self.state.webhook_url
        token = self.state.webhook_secret if secret is None else secret
        headers = {SECRET_HEADER: token} if token else {}
        async with aiohttp.ClientSession() as session, session.post(target, json=update, headers=headers) as r:
            await r.read()
            return r.status

    def _mid(self) -> str:
        return "mid." + secrets.token_hex(16)

    def _seq(self) -> int:
        seq = self.state.next_seq
        self.state.next_seq += 1
        return seq

    # --- server ---------------------------------------------------------------------------------
    def stitch_settings(self, settings: Settings) -> Settings:
        return replace(settings, max_bot_token=self.token, max_webhook_secret=new_secret(), max_api_base=self.base_url)

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/me", self._guard(self._me))
        app.router.add_post("/messages", self._guard(self._send))
        app.router.add_get("/subscriptions", self._guard(self._subscriptions))
        app.router.add_post("/subscriptions", self._guard(self._subscribe))
        app.router.add_delete("/subscriptions", self._guard(self._unsubscribe))
        app.router.add_get("/updates", self._guard(self._updates))

    async def _on_close(self) -> None:
        self._closing = True
        async with self._arrived:
            self._arrived.notify_all()

    def _guard(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            self.state.calls.append(f"{request.method} {request.path}")
            if not secrets.compare_digest(request.headers.get("Authorization", "").encode(), self.token.encode()):
                return _error(401, "verify.token", "Invalid access_token")
            response: web.StreamResponse = await handler(request)
            return response

        return guarded

    def _bot_user(self) -> dict[str, Any]:
        return {"user_id": self.bot_id, "first_name": "Stitch", "username": self.username, "is_bot": True}

    async def _me(self, request: web.Request) -> web.Response:
        return web.json_response({**self._bot_user(), "name": "Stitch"})

    async def _send(self, request: web.Request) -> web.Response:
        if self._failures:
            f = self._failures.popleft()
            headers = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else None
            return _error(f.status, f.code, f.code.replace(".", " "), headers=headers)
        user_id = request.query.get("user_id", "")
        chat_id = request.query.get("chat_id", "")
        if not (user_id or chat_id):
            return _error(400, "proto.payload", "user_id or chat_id is required")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "proto.payload", "body is not JSON")
        text = body.get("text") if isinstance(body, dict) else None
        attachments = body.get("attachments") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text or len(text) > 4000:
            return _error(400, "proto.payload", "text must be 1 to 4000 characters")
        attachments = attachments if isinstance(attachments, list) else []
        mid = self._mid()
        self.state.sent.append(
            SentMessage(user_id=user_id, chat_id=chat_id, text=text, attachments=attachments, mid=mid)
        )
        stamp = int(time.time() * 1000)
        recipient = {"chat_type": "dialog", "user_id": int(user_id) if user_id.isdigit() else None}
        message_body: dict[str, Any] = {"mid": mid, "seq": self._seq(), "text": text}
        if attachments:
            message_body["attachments"] = attachments
        message = {"sender": self._bot_user(), "recipient": recipient, "timestamp": stamp, "body": message_body}
        return web.json_response({"message": message})

    async def _subscriptions(self, request: web.Request) -> web.Response:
        subs = (
            [{"url": self.state.webhook_url, "time": 0, "update_types": self.state.update_types}]
            if self.state.webhook_url
            else []
        )
        return web.json_response({"subscriptions": subs})

    async def _subscribe(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "proto.payload", "body is not JSON")
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return web.json_response({"success": False, "message": "url is required"})
        self.state.webhook_url = url
        self.state.webhook_secret = str(body.get("secret") or "")
        types = body.get("update_types")
        self.state.update_types = [str(t) for t in types] if isinstance(types, list) else []
        return web.json_response({"success": True})

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        if request.query.get("url") == self.state.webhook_url:
            self.state.webhook_url = ""
            self.state.webhook_secret = ""
        return web.json_response({"success": True})

    async def _updates(self, request: web.Request) -> web.Response:
        try:
            timeout = min(float(request.query.get("timeout", "30")), MAX_POLL_TIMEOUT)
            limit = int(request.query.get("limit", "100"))
            marker = int(request.query["marker"]) if "marker" in request.query else None
        except ValueError:
            return _error(400, "proto.payload", "timeout, limit and marker are numbers")
        types = {t for t in request.query.get("types", "").split(",") if t}
        if marker is not None:
            # Updates up to the marker are confirmed: MAX forgets them.
            self.state.queued = [(m, u) for m, u in self.state.queued if m > marker]

        def ready() -> list[tuple[int, dict[str, Any]]]:
            return [(m, u) for m, u in self.state.queued if not types or u.get("update_type") in types][:limit]

        async with self._arrived:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait_for(lambda: bool(ready()) or self._closing), timeout)
        batch = ready()
        last = batch[-1][0] if batch else (marker if marker is not None else self.state.next_marker - 1)
        return web.json_response({"updates": [u for _, u in batch], "marker": last})


def _error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)
