"""MaxClient: a thin aiohttp client for MAX's Bot API (dev.max.ru/docs-api), with a configurable base URL.

Every request carries the bot token in the `Authorization` header. Answers are JSON; errors are an
HTTP status with `{"code", "message"}`, raised here as ProviderError (429 and 5xx are retryable).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from connectors.retry import parse_retry_after
from connectors.text import split_text
from core.config import MAX_API
from core.errors import ProviderError

CHANNEL = "max"
MAX_TEXT = 4000  # MAX refuses longer message texts
REQUEST_TIMEOUT_S = 30.0
NETWORK_STATUS = 503  # a transport failure counts as a retryable 5xx
UPDATE_TYPES = ("message_created",)  # what Stitch subscribes to: customers' new messages (contacts included)

Params = Mapping[str, str | int]


class MaxClient:
    """Bot API calls for one bot token.

    Pass a ready `aiohttp.ClientSession` (not closed here) or let the client open one on first use
    inside the running loop; `close()` closes what it opened.
    """

    def __init__(self, token: str, *, base_url: str = MAX_API, session: aiohttp.ClientSession | None = None) -> None:
        self._token = token
        self._base = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def me(self) -> dict[str, Any]:
        """The bot's own user (`GET /me`): checks the token."""
        return _object(await self._call("GET", "/me"), "/me")

    async def send_message(
        self, user_id: str, text: str, *, attachments: Sequence[Mapping[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """`POST /messages?user_id=…` with `{"text"}`, split into messages of at most MAX_TEXT characters.

        Attachments (a keyboard) go with the last piece. Returns the sent messages in order; a failure
        part-way raises, and the pieces already sent stay sent (MAX has no idempotency key).
        """
        pieces = split_text(text, MAX_TEXT)
        sent: list[dict[str, Any]] = []
        for n, piece in enumerate(pieces):
            body: dict[str, Any] = {"text": piece}
            if attachments and n == len(pieces) - 1:
                body["attachments"] = [dict(a) for a in attachments]
            answer = _object(await self._call("POST", "/messages", params={"user_id": user_id}, json=body), "/messages")
            message = answer.get("message")
            sent.append(message if isinstance(message, dict) else {})
        return sent

    async def subscribe(self, url: str, secret: str, update_types: Sequence[str] = UPDATE_TYPES) -> None:
        """`POST /subscriptions`: MAX then POSTs each Update to `url` with `secret` in X-Max-Bot-Api-Secret."""
        body = {"url": url, "update_types": list(update_types), "secret": secret}
        answer = _object(await self._call("POST", "/subscriptions", json=body), "/subscriptions")
        if answer.get("success") is not True:
            raise ProviderError(CHANNEL, f"subscription refused: {answer.get('message', '')}"[:200], status=400)

    async def unsubscribe(self, url: str) -> None:
        """`DELETE /subscriptions?url=…`: back to long polling."""
        await self._call("DELETE", "/subscriptions", params={"url": url})

    async def updates(
        self, *, marker: int | None, timeout: int, limit: int = 100, types: Sequence[str] = UPDATE_TYPES
    ) -> tuple[list[dict[str, Any]], int | None]:
        """`GET /updates`: long-polls up to `timeout` seconds; the updates after `marker` and the next marker."""
        params: dict[str, str | int] = {"timeout": timeout, "limit": limit, "types": ",".join(types)}
        if marker is not None:
            params["marker"] = marker
        answer = _object(
            await self._call("GET", "/updates", params=params, timeout=timeout + REQUEST_TIMEOUT_S), "/updates"
        )
        raw = answer.get("updates")
        updates = [u for u in raw if isinstance(u, dict)] if isinstance(raw, list) else []
        next_marker = answer.get("marker")
        return updates, next_marker if isinstance(next_marker, int) and not isinstance(next_marker, bool) else marker

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- plumbing -------------------------------------------------------------------------------
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Mapping[str, Any] | None = None,
        timeout: float = REQUEST_TIMEOUT_S,
    ) -> Any:
        headers = {"Authorization": self._token}
        try:
            async with self._http().request(
                method,
                self._base + path,
                params=params,
                json=json,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as r:
                if r.status >= 400:
                    code = await _error_code(r)
                    raise ProviderError(
                        CHANNEL,
                        f"{method} {path} failed" + (f": {code}" if code else ""),
                        status=r.status,
                        retry_after=parse_retry_after(r.headers.get("Retry-After")),
                    )
                return await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ProviderError(CHANNEL, f"{method} {path}: network error", status=NETWORK_STATUS) from e
        except ValueError as e:  # a 2xx whose body is not JSON
            raise ProviderError(CHANNEL, f"{method} {path}: answer is not JSON", status=502) from e


async def _error_code(response: aiohttp.ClientResponse) -> str:
    """MAX's error `code` ("chat.denied", "too.many.requests"): safe to log, unlike its message."""
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return ""
    code = body.get("code") if isinstance(body, dict) else None
    return code[:60] if isinstance(code, str) else ""


def _object(answer: Any, path: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise ProviderError(CHANNEL, f"{path}: answer is not an object", status=502)
    return answer
