"""Bitrix24 errors, hung under the one Stitch error tree.

    ConnectorError
     └── ProviderError                 (core.errors)
          └── Bitrix24Error            code, description, status, method
               ├── Bitrix24AuthError       NO_AUTH_FOUND / 401, INVALID_CREDENTIALS, insufficient_scope / 403
               ├── Bitrix24NotFound        "Not found", NOT_FOUND, OWNER_NOT_FOUND
               ├── Bitrix24MethodNotFound  ERROR_METHOD_NOT_FOUND / 404
               ├── Bitrix24Throttled       QUERY_LIMIT_EXCEEDED / 503, OPERATION_TIME_LIMIT / 429 (reset_at)
               └── Bitrix24Unavailable     no HTTP answer at all (connection failed, timeout, not JSON)

Bitrix24 reports errors as `{"error": code, "error_description": text}`, but older `crm.*` methods send
an empty (or integer 0) code and only a description, so classification looks at the code, then the
description, then the HTTP status (`classify`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import ProviderError

CHANNEL = "bitrix24"

AUTH_CODES = frozenset(
    {
        "NO_AUTH_FOUND",
        "INVALID_CREDENTIALS",
        "INSUFFICIENT_SCOPE",
        "ACCESS_DENIED",
        "EXPIRED_TOKEN",
        "INVALID_TOKEN",
        "WRONG_AUTH_TYPE",
        "AUTHORIZATION_ERROR",
    }
)
NOT_FOUND_CODES = frozenset({"NOT_FOUND", "OWNER_NOT_FOUND", "ERROR_NOT_FOUND"})
METHOD_NOT_FOUND_CODES = frozenset({"ERROR_METHOD_NOT_FOUND", "METHOD_NOT_FOUND"})
QUERY_LIMIT_CODES = frozenset({"QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT"})
OPERATION_LIMIT_CODE = "OPERATION_TIME_LIMIT"
THROTTLE_CODES = QUERY_LIMIT_CODES | {OPERATION_LIMIT_CODE}

# What an operator should do about an auth failure; shown at start-up by Bitrix24Client.check().
_AUTH_HINTS = {
    "NO_AUTH_FOUND": "the webhook code was rejected (wrong or deleted incoming webhook); "
    "copy the URL again from Bitrix24 > Developer resources > Incoming webhook",
    "INVALID_CREDENTIALS": "the webhook's user lacks the rights for this method",
    "INSUFFICIENT_SCOPE": "the incoming webhook lacks a permission (scope); add it in the webhook settings",
    "ACCESS_DENIED": "REST API is not available on this Bitrix24 plan, or the user is denied access",
}


class Bitrix24Error(ProviderError):
    """Bitrix24 answered an error (or, in a batch, one command failed)."""

    def __init__(
        self,
        *,
        code: str,
        description: str,
        status: int,
        method: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(CHANNEL, self._reason(code, description, method), status=status, retry_after=retry_after)
        self.code = code
        self.description = description
        self.method = method

    @staticmethod
    def _reason(code: str, description: str, method: str) -> str:
        where = f"{method}: " if method else ""
        return f"{where}{code or '(no code)'}: {description or '(no description)'}"


class Bitrix24AuthError(Bitrix24Error):
    """The webhook code, its scopes or the user's rights were refused; retrying will not help."""

    @staticmethod
    def _reason(code: str, description: str, method: str) -> str:
        base = Bitrix24Error._reason(code, description, method)
        hint = _AUTH_HINTS.get(code.upper())
        return f"{base} ({hint})" if hint else base


class Bitrix24NotFound(Bitrix24Error):
    """The entity is gone: deleted, merged away by Bitrix24's auto-merge, or never existed.

    Callers re-resolve through findbycomm or ORIGIN_ID instead of trusting a stored ID.
    """


class Bitrix24MethodNotFound(Bitrix24Error):
    """The portal does not know the method (module off, plan, or a typo)."""


class Bitrix24Throttled(Bitrix24Error):
    """Rate or run-time limit hit; `reset_at` (epoch seconds) is set for OPERATION_TIME_LIMIT."""

    def __init__(
        self,
        *,
        code: str,
        description: str,
        status: int,
        method: str = "",
        retry_after: float | None = None,
        reset_at: float | None = None,
    ) -> None:
        super().__init__(code=code, description=description, status=status, method=method, retry_after=retry_after)
        self.reset_at = reset_at


class Bitrix24Unavailable(Bitrix24Error):
    """No usable HTTP answer: connection refused, timeout, or a body that is not JSON."""


def _code(raw: Any) -> str:
    # mergeBatch sends integer 0 and crm.* send "" for "no code": both mean "look at the text".
    if raw is None or raw == "" or raw == 0 or isinstance(raw, bool):
        return ""
    return str(raw)


def classify(status: int, body: Mapping[str, Any], method: str = "") -> Bitrix24Error:
    """Build the exception for an error answer: by `error`, then `error_description`, then status."""
    code = _code(body.get("error"))
    description = str(body.get("error_description") or "")
    upper, lower = code.upper(), description.lower()
    kw: dict[str, Any] = {"code": code, "description": description, "status": status, "method": method}
    if upper in AUTH_CODES:
        return Bitrix24AuthError(**kw)
    if upper in METHOD_NOT_FOUND_CODES:
        return Bitrix24MethodNotFound(**kw)
    if upper in NOT_FOUND_CODES:
        return Bitrix24NotFound(**kw)
    if upper in THROTTLE_CODES:
        return _throttled(body, kw)
    if code == "":
        if "method not found" in lower:
            return Bitrix24MethodNotFound(**kw)
        if "not found" in lower:
            return Bitrix24NotFound(**kw)
        if "access denied" in lower:
            return Bitrix24AuthError(**kw)
    if status in (401, 403):
        return Bitrix24AuthError(**kw)
    if status == 404:
        return Bitrix24MethodNotFound(**kw)
    if status in (429, 503):
        return _throttled(body, kw)
    return Bitrix24Error(**kw)


def _throttled(body: Mapping[str, Any], kw: dict[str, Any]) -> Bitrix24Throttled:
    reset_at: float | None = None
    time_block = body.get("time")
    if isinstance(time_block, Mapping) and kw["code"].upper() == OPERATION_LIMIT_CODE:
        raw = time_block.get("operating_reset_at")
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            reset_at = float(raw)
    return Bitrix24Throttled(**kw, reset_at=reset_at)
