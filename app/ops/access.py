"""Who may use the ops pages: a small hook the inbox's login replaces once users exist.

An `OpsAccess` takes the request and answers the operator (name and the CSRF token their forms
must carry) or None. The default, `TokenOrLoopback`, needs no user system:

- `STITCH_OPS_TOKEN` set: the token, as `Authorization: Bearer <token>` or the cookie the
  `/ops/login` form sets (HttpOnly, SameSite=Strict);
- not set: loopback clients only (127.0.0.1, ::1). Behind a reverse proxy every client looks like
  loopback, so set a token there.

Once any inbox user exists, `LoginOrToken` (the hook `create_ops_app` installs) closes the loopback
door: the token, or an inbox login with the ops or admin role, even from 127.0.0.1, since the
customers' data behind these pages is then meant for named people only.

Forms carry a per-process CSRF token (a restart invalidates open pages, which is harmless).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from core.inbox import Role, User

COOKIE = "stitch_ops"


@dataclass(frozen=True, slots=True, kw_only=True)
class OpsUser:
    """The operator making a request, and the token their forms must send back; `user` is their inbox
    login, if they came through it (the ops token and loopback name nobody in particular)."""

    name: str
    csrf: str
    user: User | None = None

    @property
    def may_reveal(self) -> bool:
        """Contact details are masked on the ops pages; only an admin may show them (audited)."""
        return self.user is not None and self.user.role is Role.ADMIN


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


async def inbox_login(request: web.Request) -> str | None:
    """Where to send a browser that is not logged in: the inbox's login, back to this page after.
    None without the inbox, or for a login that lacks an ops role (another login would not help it)."""
    from app.inbox.keys import AUTH  # here, as in LoginOrToken: the ops pages are built without the inbox

    auth = request.config_dict.get(AUTH)
    if auth is None or await auth.current(request) is not None:
        return None
    return "/inbox/login?" + urlencode({"next": request.path_qs})


def csrf_ok(user: OpsUser, given: str) -> bool:
    return bool(given) and secrets.compare_digest(given.encode(), user.csrf.encode())


# Inbox roles that may use the ops pages.
OPS_ROLES = frozenset({"ops", "admin"})


class LoginOrToken:
    """The token, or an inbox login with an ops role; loopback alone only while no inbox user exists."""

    def __init__(self, default: TokenOrLoopback) -> None:
        self.default = default
        self._users_seen = False  # users are never deleted (only disabled): once seen, always there

    async def __call__(self, request: web.Request) -> OpsUser | None:
        # Imported here: the ops pages are built before, and without, the inbox.
        from app.inbox.keys import AUTH
        from app.keys import STORE

        if self.default.token:
            by_token = await self.default(request)
            if by_token is not None:
                return by_token
        auth = request.config_dict.get(AUTH)
        found = await auth.current(request) if auth is not None else None
        if found is not None and found[0].role.value in OPS_ROLES:
            return OpsUser(name=found[0].name, csrf=self.default.csrf, user=found[0])
        if self.default.token or await self._users_exist(request, STORE):
            return None
        return await self.default(request)

    async def _users_exist(self, request: web.Request, key: web.AppKey[Any]) -> bool:
        if not self._users_seen:
            store = request.config_dict.get(key)
            self._users_seen = bool(store is not None and await store.users())
        return self._users_seen
