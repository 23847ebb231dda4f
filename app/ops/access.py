"""Who may use the ops pages: a small hook the inbox's login replaces once users exist.

An `OpsAccess` takes the request and answers the operator (name and the CSRF token their forms
must carry) or None. The default, `TokenOrLoopback`, needs no user system:

- `STITCH_OPS_TOKEN` set: the token, as `Authorization: Bearer <token>` or the cookie the
  `/ops/login` form sets (HttpOnly, SameSite=Strict);
- not set: loopback clients only (127.0.0.1, ::1). Behind a reverse proxy every client looks like
  loopback, so set a token there.

Forms carry a per-process CSRF token (a restart invalidates open pages, which is harmless).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

COOKIE = "stitch_ops"


@dataclass(frozen=True, slots=True, kw_only=True)
class OpsUser:
    """The operator making a request, and the token their forms must send back."""

    name: str
    csrf: str


OpsAccess = Callable[[web.Request], Awaitable[OpsUser | None]]


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


class TokenOrLoopback:
    """The default access hook (see the module docstring)."""

    def __init__(self, token: str, csrf: str | None = None) -> None:
        self.token = token
        self.csrf = csrf or secrets.token_urlsafe(24)

    def token_matches(self, given: str) -> bool:
        return bool(self.token) and secrets.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, request: web.Request) -> OpsUser | None:
        if not self.token:
            return OpsUser(name="ops@loopback", csrf=self.csrf) if _loopback(request.remote) else None
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else request.cookies.get(COOKIE)
        return OpsUser(name="ops", csrf=self.csrf) if given and self.token_matches(given) else None


def csrf_ok(user: OpsUser, given: str) -> bool:
    return bool(given) and secrets.compare_digest(given.encode(), user.csrf.encode())
