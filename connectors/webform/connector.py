"""WebFormConnector: `POST /forms/{form_id}` from the business's own website.

Spam and abuse guards, in the order they are cheapest: origin (CORS, `STITCH_FORM_ORIGINS`), size
limit, per-IP rate limit, honeypot (answered like a success so bots learn nothing), then field
validation with per-field errors. The form answers the request itself (`WebhookRoute.own`): 201 with
the submission's id, 4xx with `{"errors": {field: reason}}`. Nothing can be sent back to a form.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web

from connectors.base import Accept, BaseConnector, OutboundReply, SendResult, WebhookRequest, WebhookRoute
from connectors.webform.parse import HONEYPOT
from core.config import Settings
from core.errors import ChannelUnavailable, ParseError
from core.phones import normalize_email, normalize_phone
from core.ratelimit import RateLimiter
from core.values import Channel, Envelope

FORM_MAX_BYTES = 16 * 1024
FIELD_MAX_CHARS = 4000
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


class WebFormConnector(BaseConnector):
    """The website form: no credentials, its own answers, its own per-IP limiter."""

    channel: ClassVar[Channel] = Channel.WEBFORM

    def __init__(
        self, *, origins: tuple[str, ...] = (), region: str = "RU", limiter: RateLimiter | None = None
    ) -> None:
        self.origins = origins
        self.region = region
        self.limiter = limiter or RateLimiter()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebFormConnector:
        return cls(origins=settings.form_origins, region=settings.default_region)

    def verify(self, request: WebhookRequest) -> None:
        """Anyone may post a form: its guards are in `answer`."""

    def envelope(self, request: WebhookRequest, received_at: datetime) -> Envelope | None:
        raise NotImplementedError("the web form answers its requests itself")

    async def send(self, reply: OutboundReply) -> SendResult:
        raise ChannelUnavailable(self.channel, "a web form cannot be answered here; call or e-mail the customer")

    async def answer(self, route: WebhookRoute, request: web.Request, accept: Accept) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return self._cors(request, web.Response(status=204))
        origin = request.headers.get("Origin", "")
        if origin and self.origins and origin not in self.origins:
            return self._error(request, 403, {"origin": "this site may not post to the form"})
        if (request.content_length or 0) > FORM_MAX_BYTES:
            return self._error(request, 413, {"body": f"larger than {FORM_MAX_BYTES} bytes"})
        wait = self.limiter.allow(request.remote or "?")
        if wait:
            retry = {"Retry-After": f"{wait:.0f}"}
            return self._error(request, 429, {"rate": "too many submissions, try again later"}, **retry)
        try:
            fields = await _read(request)
        except ValueError as e:
            return self._error(request, 400, {"body": str(e)})
        if fields.get(HONEYPOT):
            return self._cors(request, web.json_response({"ok": True}))
        errors = _validate(fields, self.region)
        if errors:
            return self._error(request, 400, errors)
        fields["form_id"] = request.match_info["form_id"][:64]
        # A submission has no id of its own: a random one (replay derives a content hash instead).
        envelope = Envelope(
            id=f"web_{secrets.token_hex(8)}", channel=self.channel, received_at=datetime.now(UTC), payload=fields
        )
        try:
            await accept(envelope)
        except ParseError as e:
            return self._error(request, 400, {e.field: e.reason})
        return self._cors(request, web.json_response({"ok": True, "id": envelope.id}, status=201))

    def _cors(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        origin = request.headers.get("Origin", "")
        if origin and origin in self.origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    def _error(self, request: web.Request, status: int, errors: dict[str, str], **headers: str) -> web.StreamResponse:
        response = web.json_response({"ok": False, "errors": errors}, status=status, headers=headers)
        return self._cors(request, response)


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
        except RecursionError as e:
            raise ValueError("not JSON: nested too deep") from e
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
