"""Users, passwords, sessions and CSRF.

- Passwords: argon2id (argon2-cffi), never stored or logged in clear.
- Sessions: a random token in an HttpOnly, SameSite=Lax cookie (Secure when the public URL is
  https); the store keeps only the token's SHA-256, so a leaked database opens no sessions.
- CSRF: every session has its own token; writes must echo it (header X-CSRF-Token or form field
  `csrf`). The login form, which has no session yet, uses a double-submit cookie.
- Login attempts are rate-limited per client address and per user name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.config import Settings
from core.errors import FieldErrors
from core.inbox import Role, Session, User
from core.ratelimit import RateLimiter
from store.base import BaseStore

COOKIE = "stitch_session"
LOGIN_CSRF_COOKIE = "stitch_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
MIN_PASSWORD = 8
LOGIN_PER_MIN = 5.0  # attempts a minute per address and per name, after a burst of LOGIN_BURST
LOGIN_BURST = 5.0
USER_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")

_hasher = PasswordHasher()
# Checked against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def _now() -> datetime:
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_user_name(name: str) -> str:
    name = name.strip().lower()
    if not name or len(name) > 64 or not set(name) <= USER_NAME_CHARS:
        raise FieldErrors({"name": "use 1-64 letters a-z, digits, dot, dash or underscore"})
    return name


async def add_user(store: BaseStore, name: str, role: Role, password: str) -> User:
    """Create a user; FieldErrors for a bad name, a short password or a taken name."""
    name = check_user_name(name)
    if len(password) < MIN_PASSWORD:
        raise FieldErrors({"password": f"at least {MIN_PASSWORD} characters"})
    user = User(name=name, role=role, password_hash=_hasher.hash(password), created_at=_now())
    async with store.atomic():
        if not await store.add_user(user):
            raise FieldErrors({"name": f"user {name} already exists"})
    return user


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedIn:
    user: User
    token: str
    session: Session


class Auth:
    """Logs users in and out and finds the user behind a request."""

    def __init__(self, store: BaseStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.limiter = RateLimiter(per_min=LOGIN_PER_MIN, burst=LOGIN_BURST)
        self.secure = settings.public_url.startswith("https://")
        self.ttl = timedelta(hours=settings.inbox.session_hours)

    def allow_attempt(self, remote: str, name: str) -> float:
        """0 when a login attempt may go ahead; otherwise the seconds to wait."""
        return max(self.limiter.allow(f"ip:{remote}"), self.limiter.allow(f"name:{name.strip().lower()}"))

    async def login(self, name: str, password: str) -> LoggedIn | None:
        user = await self.store.get_user(name.strip().lower())
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or user.disabled:
            return None
        token = secrets.token_urlsafe(32)
        now = _now()
        session = Session(
            token_hash=hash_token(token),
            user=user.name,
            csrf=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + self.ttl,
        )
        async with self.store.atomic():
            await self.store.add_session(session)
        return LoggedIn(user=user, token=token, session=session)

    async def logout(self, request: web.Request) -> None:
        token = request.cookies.get(COOKIE)
        if token:
            async with self.store.atomic():
                await self.store.delete_session(hash_token(token))

    async def current(self, request: web.Request) -> tuple[User, Session] | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        session = await self.store.get_session(hash_token(token))
        if session is None or session.expires_at <= _now():
            return None
        user = await self.store.get_user(session.user)
        if user is None or user.disabled:
            return None
        return user, session

    def set_cookie(self, response: web.StreamResponse, logged: LoggedIn) -> None:
        response.set_cookie(
            COOKIE,
            logged.token,
            httponly=True,
            samesite="Lax",
            secure=self.secure,
            path="/",
            max_age=int(self.ttl.total_seconds()),
        )

    def clear_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")

    @staticmethod
    def csrf_ok(session: Session, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(session.csrf, sent or "")
