"""AvitoClient: a thin aiohttp client for the Avito messenger API (Avito ships no Python SDK).

OAuth client-credentials token cached until shortly before expiry and fetched again once when the
API answers 401/403; our own user id (the `{uid}` in paths) fetched once; chat info cached (LRU
with a TTL) because every inbound message needs the buyer's name and the listing.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from connectors.retry import parse_retry_after
from connectors.text import split_text as split
from core.errors import ProviderError

AVITO_API = "https://api.avito.ru"
CHANNEL = "avito"
MAX_TEXT = 1000  # Avito rejects longer messages
TOKEN_MARGIN_S = 60.0  # refetch this long before the token's stated expiry: clocks and latency differ
CHAT_TTL_S = 600.0  # chat info (buyer name, listing) rarely changes; ten minutes of staleness is fine
CHAT_CACHE_SIZE = 4096
REQUEST_TIMEOUT_S = 30.0
NETWORK_STATUS = 503  # a transport failure counts as a retryable 5xx


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut `text` into Avito-sized pieces (see `connectors.text.split_text`)."""
    return split(text, limit)


class _TtlLru:
    """A small LRU cache whose entries also expire; values are Avito's JSON objects."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float]) -> None:
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def get(self, key: str) -> dict[str, Any] | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._items[key] = (self._clock() + self._ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


class AvitoClient:
    """Avito API calls on behalf of one account (one client id/secret pair).

    Pass a ready `aiohttp.ClientSession` (not closed here) or let the client open one on first
    use inside the running loop; `close()` closes what it opened.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        base_url: str = AVITO_API,
        session: aiohttp.ClientSession | None = None,
        chat_ttl: float = CHAT_TTL_S,
        chat_cache_size: int = CHAT_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._base = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._user_id: str | None = None
        self._chats = _TtlLru(chat_cache_size, chat_ttl, clock)

    # --- public API -----------------------------------------------------------------------------
    async def user_id(self) -> str:
        """Our account id, the `{uid}` of messenger paths (fetched once)."""
        if self._user_id is None:
            me = await self._call("GET", "/core/v1/accounts/self")
            if not isinstance(me, dict) or "id" not in me:
                raise ProviderError(CHANNEL, "accounts/self without an id", status=502)
            self._user_id = str(me["id"])
        return self._user_id

    async def get_chat(self, chat_id: str) -> dict[str, Any]:
        """Chat info (`users[]`, `context.value` = the listing), cached per chat."""
        cached = self._chats.get(chat_id)
        if cached is not None:
            return cached
        uid = await self.user_id()
        chat = await self._call("GET", f"/messenger/v2/accounts/{uid}/chats/{chat_id}")
        if not isinstance(chat, dict):
            raise ProviderError(CHANNEL, "chat info is not an object", status=502)
        self._chats.put(chat_id, chat)
        return chat

    async def send_text(self, chat_id: str, text: str) -> list[dict[str, Any]]:
        """Send `text`, split into messages of at most MAX_TEXT characters; Avito's answers in order.

        A failure part-way raises; the pieces already sent stay sent (Avito has no idempotency key).
        """
        uid = await self.user_id()
        sent: list[dict[str, Any]] = []
        for piece in split_text(text):
            body = {"message": {"text": piece}, "type": "text"}
            answer = await self._call("POST", f"/messenger/v1/accounts/{uid}/chats/{chat_id}/messages", body)
            if not isinstance(answer, dict):
                raise ProviderError(CHANNEL, "send answer is not an object", status=502)
            sent.append(answer)
        return sent

    async def subscribe(self, url: str) -> None:
        """Register `url` for messenger webhooks v3 (Avito probes it with `{}` first)."""
        answer = await self._call("POST", "/messenger/v3/webhook", {"url": url})
        if not (isinstance(answer, dict) and answer.get("ok") is True):
            raise ProviderError(CHANNEL, "webhook subscription refused", status=502)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- plumbing -------------------------------------------------------------------------------
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        return self._session

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._clock() < self._token_expires:
                return self._token
            form = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
            answer = await self._raw("POST", "/token/", data=form)
            token = answer.get("access_token") if isinstance(answer, dict) else None
            if not isinstance(token, str) or not token:
                raise ProviderError(CHANNEL, "token answer without access_token", status=502)
            expires_in = float(answer.get("expires_in") or 0)
            self._token = token
            self._token_expires = self._clock() + max(expires_in - TOKEN_MARGIN_S, 0.0)
            return token

    def _forget_token(self, token: str) -> None:
        # Only the token that failed: another task may already have fetched a fresh one.
        if self._token == token:
            self._token = None

    async def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """An authenticated call; on 401/403 the token is fetched again and the call made once more."""
        for attempt in range(2):
            token = await self._access_token()
            try:
                return await self._raw(method, path, json=body, token=token)
            except ProviderError as e:
                if e.status in (401, 403) and attempt == 0:
                    self._forget_token(token)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _raw(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with self._http().request(method, self._base + path, json=json, data=data, headers=headers) as r:
                if r.status >= 400:
                    await r.read()
                    raise ProviderError(
                        CHANNEL,
                        f"{method} {_route(path)} failed",
                        status=r.status,
                        retry_after=parse_retry_after(r.headers.get("Retry-After")),
                    )
                return await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ProviderError(CHANNEL, f"{method} {_route(path)}: network error", status=NETWORK_STATUS) from e


def _route(path: str) -> str:
    """The path without ids, for error messages that end up in logs."""
    return "/".join("{id}" if part.isdigit() or len(part) > 20 else part for part in path.split("/"))
