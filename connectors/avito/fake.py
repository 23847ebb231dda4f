"""FakeAvito: the parts of Avito's API a messenger integration uses, with Bearer tokens.

OAuth client-credentials tokens, own account, webhook subscription (with Avito's `{}` probe),
chat info and sending text. Failures (429 with Retry-After, 5xx, expired tokens) are injectable.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from aiohttp import web

from connectors.fakes._server import FakeServer, new_secret
from core.config import Settings

MAX_TEXT = 1000
PROBE_TIMEOUT_S = 2.0  # Avito drops a subscription whose URL does not answer its probe in time
TOKEN_TTL_S = 86400


@dataclass(frozen=True, slots=True, kw_only=True)
class SentAvitoMessage:
    """One message the fake accepted for sending."""

    id: str
    user_id: int
    chat_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """One POST /messenger/v3/webhook, with whether the probe got a 200 within 2 s."""

    url: str
    probe_ok: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class _Failure:
    status: int
    retry_after: int | None


@dataclass(slots=True)
class _State:
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    self_requests: int = 0
    chat_requests: Counter[str] = field(default_factory=Counter)
    chats: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[SentAvitoMessage] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    unauthorized: int = 0


class FakeAvito(FakeServer):
    """Avito's API for one application (client id/secret) acting for one account."""

    def __init__(
        self, client_id: str = "test-client", client_secret: str = "test-secret", *, user_id: int = 94235311
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.user_id = user_id
        self.state = _State()
        self._failures: deque[_Failure] = deque()

    @property
    def sent(self) -> list[SentAvitoMessage]:
        return self.state.sent

    @property
    def subscriptions(self) -> list[Subscription]:
        return self.state.subscriptions

    # --- switches -------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Forget every issued token: the next API call answers 401 until a new one is fetched."""
        self.state.tokens.clear()

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        """The next `times` API calls (not /token/) answer `status` (429 with Retry-After, 5xx)."""
        self._failures.extend([_Failure(status=status, retry_after=retry_after)] * times)

    def add_chat(
        self,
        chat_id: str,
        *,
        buyer_id: int,
        buyer_name: str,
        item_id: int = 1768287444,
        item_title: str = "iPhone 13, 128 GB",
    ) -> dict[str, Any]:
        """Register a chat between our account and a buyer about one listing."""
        chat = {
            "id": chat_id,
            "created": int(time.time()) - 3600,
            "updated": int(time.time()),
            "users": [
                {
                    "id": buyer_id,
                    "name": buyer_name,
                    "public_user_profile": {
                        "user_id": buyer_id,
                        "item_id": item_id,
                        "url": f"https://www.avito.ru/user/{buyer_id}/profile",
                        "avatar": {"default": "https://static.avito.ru/stub_avatars/default.png"},
                    },
                },
                {
                    "id": self.user_id,
                    "name": "Our shop",
                    "public_user_profile": {"user_id": self.user_id, "item_id": item_id, "url": ""},
                },
            ],
            "context": {
                "type": "item",
                "value": {
                    "id": item_id,
                    "title": item_title,
                    "url": f"https://www.avito.ru/moskva/telefony/{item_id}",
                    "user_id": self.user_id,
                    "price_string": "45 000 ₽",
                },
            },
        }
        self.state.chats[chat_id] = chat
        return chat

    def put_chat(self, chat: dict[str, Any]) -> None:
        """Answer `chat` (a chat-info object, e.g. a replay line's `lookups.chat`) for its id."""
        self.state.chats[str(chat["id"])] = chat

    # --- inbound helpers ------------------------------------------------------------------------
    def webhook_body(
        self,
        *,
        chat_id: str,
        author_id: int,
        text: str = "",
        message_id: str | None = None,
        msg_type: str = "text",
        chat_type: str = "u2i",
        item_id: int = 1768287444,
        created: int | None = None,
    ) -> dict[str, Any]:
        """A messenger webhook v3 body as Avito posts it."""
        now = int(time.time()) if created is None else created
        return {
            "id": secrets.token_hex(16),
            "version": "v3.0.0",
            "timestamp": now,
            "payload": {
                "type": "message",
                "value": {
                    "id": message_id or secrets.token_hex(16),
                    "chat_id": chat_id,
                    "user_id": self.user_id,
                    "author_id": author_id,
                    "created": now,
                    "type": msg_type,
                    "chat_type": chat_type,
                    "content": {"text": text},
                    "item_id": item_id,
                    "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                },
            },
        }

    async def post_webhook(self, url: str, body: dict[str, Any]) -> int:
        """POST a webhook body to `url` like Avito does; returns the HTTP status answered."""
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as r:
            await r.read()
            return r.status

    # --- server ---------------------------------------------------------------------------------
    def stitch_settings(self, settings: Settings) -> Settings:
        return replace(
            settings,
            avito_client_id=self.client_id,
            avito_client_secret=self.client_secret,
            avito_webhook_secret=new_secret(),
            avito_api_base=self.base_url,
        )

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/token/", self._token)
        app.router.add_get("/core/v1/accounts/self", self._self)
        app.router.add_post("/messenger/v3/webhook", self._subscribe)
        app.router.add_get("/messenger/v2/accounts/{uid}/chats/{chat_id}", self._chat)
        app.router.add_post("/messenger/v1/accounts/{uid}/chats/{chat_id}/messages", self._send)

    async def _token(self, request: web.Request) -> web.Response:
        self.state.token_requests += 1
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if not (
            secrets.compare_digest(str(form.get("client_id", "")), self.client_id)
            and secrets.compare_digest(str(form.get("client_secret", "")), self.client_secret)
        ):
            return web.json_response({"error": "invalid_client"}, status=400)
        token = secrets.token_urlsafe(24)
        self.state.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": TOKEN_TTL_S, "token_type": "Bearer"})

    def _gate(self, request: web.Request) -> web.Response | None:
        """Bearer check and injected failures, in that order (Avito authenticates first)."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.state.tokens:
            self.state.unauthorized += 1
            return web.json_response({"error": {"code": 401, "message": "Unauthorized"}}, status=401)
        if self._failures:
            f = self._failures.popleft()
            headers = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else None
            return web.json_response(
                {"error": {"code": f.status, "message": "injected failure"}}, status=f.status, headers=headers
            )
        return None

    def _own(self, request: web.Request) -> web.Response | None:
        if request.match_info["uid"] != str(self.user_id):
            return web.json_response({"error": {"code": 403, "message": "Forbidden"}}, status=403)
        return None

    async def _self(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request)) is not None:
            return denied
        self.state.self_requests += 1
        return web.json_response(
            {
                "id": self.user_id,
                "name": "Our shop",
                "email": "shop@example.com",
                "phone": "",
                "profile_url": f"https://www.avito.ru/user/{self.user_id}/profile",
            }
        )

    async def _subscribe(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request)) is not None:
            return denied
        body = await request.json()
        url = str(body.get("url", "")) if isinstance(body, dict) else ""
        if not url:
            return web.json_response({"error": {"code": 400, "message": "url is required"}}, status=400)
        self.state.subscriptions.append(Subscription(url=url, probe_ok=await _probe(url)))
        return web.json_response({"ok": True})

    async def _chat(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request) or self._own(request)) is not None:
            return denied
        chat_id = request.match_info["chat_id"]
        self.state.chat_requests[chat_id] += 1
        chat = self.state.chats.get(chat_id)
        if chat is None:
            return web.json_response({"error": {"code": 404, "message": "chat not found"}}, status=404)
        return web.json_response(chat)

    async def _send(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request) or self._own(request)) is not None:
            return denied
        body = await request.json()
        message = body.get("message") if isinstance(body, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        if body.get("type") != "text" or not isinstance(text, str) or not text:
            return web.json_response({"error": {"code": 400, "message": "bad request"}}, status=400)
        if len(text) > MAX_TEXT:
            return web.json_response(
                {"error": {"code": 400, "message": f"text longer than {MAX_TEXT} characters"}}, status=400
            )
        mid = secrets.token_hex(16)
        chat_id = request.match_info["chat_id"]
        self.state.sent.append(SentAvitoMessage(id=mid, user_id=self.user_id, chat_id=chat_id, text=text))
        return web.json_response(
            {
                "id": mid,
                "created": int(time.time()),
                "direction": "out",
                "type": "text",
                "content": {"text": text},
            }
        )


async def _probe(url: str) -> bool:
    """Post `{}` like Avito before it accepts a webhook URL; True on a 200 within the time limit."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)) as session,
            session.post(url, json={}) as r,
        ):
            return r.status == 200
    except (TimeoutError, aiohttp.ClientError):
        return False
