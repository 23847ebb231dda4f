"""`POST /forms/{form_id}`: the business's own website form.

Spam and abuse guards, in the order they are cheapest: size limit, per-IP rate limit, honeypot
(answered like a success so bots learn nothing), then field validation with per-field errors.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from app.keys import PIPELINE, PROCESSOR, SETTINGS
from core.phones import normalize_email, normalize_phone
from core.values import Channel, Envelope

FORM_MAX_BYTES = 16 * 1024
FIELD_MAX_CHARS = 4000
HONEYPOT = "website"
RATE_PER_MIN = 6.0  # submissions a minute per IP, sustained
RATE_BURST = 10.0
FIELDS = (
    "name",
    "phone",
    "email",
    "message",
    "page_url",
    "visitor_id",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    HONEYPOT,
)

form_routes = web.RouteTableDef()


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per client address."""

    def __init__(self, per_min: float = RATE_PER_MIN, burst: float = RATE_BURST, max_keys: int = 100_000) -> None:
        self.rate = per_min / 60.0
        self.burst = burst
        self.max_keys = max_keys
        self.buckets: dict[str, _Bucket] = {}

    def allow(self, key: str, now: float | None = None) -> float:
        """0 when allowed; otherwise the seconds to wait."""
        now = time.monotonic() if now is None else now
        if len(self.buckets) > self.max_keys:
            self.buckets.clear()  # a flood of addresses: forget rather than grow without bound
        bucket = self.buckets.setdefault(key, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


LIMITER = web.AppKey("form_limiter", RateLimiter)


def _cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    origin = request.headers.get("Origin", "")
    if origin and origin in request.app[SETTINGS].form_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def _error(request: web.Request, status: int, errors: dict[str, str], **headers: str) -> web.StreamResponse:
    response = web.json_response({"ok": False, "errors": errors}, status=status, headers=headers)
    return _cors(request, response)


@form_routes.options("/forms/{form_id}")
async def preflight(request: web.Request) -> web.StreamResponse:
    return _cors(request, web.Response(status=204))


@form_routes.post("/forms/{form_id}")
async def submit(request: web.Request) -> web.StreamResponse:
    origin = request.headers.get("Origin", "")
    allowed = request.app[SETTINGS].form_origins
    if origin and allowed and origin not in allowed:
        return _error(request, 403, {"origin": "this site may not post to the form"})
    if (request.content_length or 0) > FORM_MAX_BYTES:
        return _error(request, 413, {"body": f"larger than {FORM_MAX_BYTES} bytes"})
    wait = request.app[LIMITER].allow(request.remote or "?")
    if wait:
        return _error(request, 429, {"rate": "too many submissions, try again later"}, **{"Retry-After": f"{wait:.0f}"})
    try:
        fields = await _read(request)
    except ValueError as e:
        return _error(request, 400, {"body": str(e)})
    if fields.get(HONEYPOT):
        return _cors(request, web.json_response({"ok": True}))
    errors = _validate(fields, request.app[SETTINGS].default_region)
    if errors:
        return _error(request, 400, errors)
    fields["form_id"] = request.match_info["form_id"][:64]
    envelope = Envelope(
        id=f"web_{secrets.token_hex(8)}", channel=Channel.WEBFORM, received_at=datetime.now(UTC), payload=fields
    )
    await request.app[PIPELINE].accept(envelope)
    await request.app[PROCESSOR].enqueue(envelope.id)
    return _cors(request, web.json_response({"ok": True, "id": envelope.id}, status=201))


async def _read(request: web.Request) -> dict[str, str]:
    body = await request.read()
    if len(body) > FORM_MAX_BYTES:
        raise ValueError(f"larger than {FORM_MAX_BYTES} bytes")
    raw: Any
    if request.content_type == "application/json":
        try:
            raw = json.loads(body or b"{}")
        except json.JSONDecodeError as e:
            raise ValueError(f"not JSON: {e.msg}") from e
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object")
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raw = dict(await request.post())
    else:
        raise ValueError("send application/json or application/x-www-form-urlencoded")
    out: dict[str, str] = {}
    for key in FIELDS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str | int | float):
            raise ValueError(f"{key} must be text")
        out[key] = str(value).strip()
    return out


def _validate(fields: dict[str, str], region: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not any(fields.get(k) for k in ("name", "phone", "email", "message")):
        errors["form"] = "fill in at least a name, a phone, an e-mail or a message"
    if not (fields.get("phone") or fields.get("email")):
        errors.setdefault("contact", "leave a phone or an e-mail so we can answer")
    if fields.get("phone") and normalize_phone(fields["phone"], region) is None:
        errors["phone"] = "not a valid phone number"
    if fields.get("email") and normalize_email(fields["email"]) is None:
        errors["email"] = "not a valid e-mail address"
    for key, value in fields.items():
        if len(value) > FIELD_MAX_CHARS:
            errors[key] = f"longer than {FIELD_MAX_CHARS} characters"
    return errors
